"""What a run tells its user while it runs, behind an interface: the library runs without a terminal.

The CLI passes a rich reporter (progress bar, a line per point); tests and notebooks get ``NullReporter`` or their
own. Every text a reporter receives may come from a suite, an engine or a server: print it as plain text.
"""

from __future__ import annotations

from typing import Literal, Protocol

from harness.plan.points import Point

Level = Literal["info", "warning"]


class Reporter(Protocol):
    def run_started(self, run_id: str, title: str, planned: int) -> None: ...

    def point_started(self, point: Point) -> None: ...

    def point_finished(self, point: Point, status: str, error: str | None) -> None: ...

    def message(self, text: str, level: Level = "info") -> None: ...

    def run_finished(self) -> None: ...


class NullReporter:
    """Says nothing."""

    def run_started(self, run_id: str, title: str, planned: int) -> None:
        pass

    def point_started(self, point: Point) -> None:
        pass

    def point_finished(self, point: Point, status: str, error: str | None) -> None:
        pass

    def message(self, text: str, level: Level = "info") -> None:
        pass

    def run_finished(self) -> None:
        pass
