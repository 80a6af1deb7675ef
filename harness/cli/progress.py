"""The terminal's reporter: a progress bar over the run and one line per finished point (on stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from harness.cli.text import markup_safe, plain
from harness.execution.reporter import Level
from harness.plan.points import Point


class RichReporter:
    def __init__(self, console: Console, progress: bool = True) -> None:
        self.console = console
        self.show_progress = progress
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def run_started(self, run_id: str, title: str, planned: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}"),
            console=self.console,
            disable=not self.show_progress,
        )
        self.progress.start()
        self.task = self.progress.add_task(markup_safe(title), total=planned, current="")

    def point_started(self, point: Point) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, current=markup_safe(point.label()))

    def point_finished(self, point: Point, status: str, error: str | None) -> None:
        mark = {"ok": ("✓", "green"), "skipped": ("– skipped:", "yellow")}.get(status, ("✗", "red"))
        line = Text.assemble(mark, " ", plain(point.label()))
        if error:
            line.append_text(Text.assemble(" — ", plain(error)))
        self.console.print(line, highlight=False)
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def message(self, text: str, level: Level = "info") -> None:
        style = "yellow" if level == "warning" else None
        self.console.print(plain(text), style=style, highlight=False)

    def run_finished(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
