"""How the terminal shows numbers, points and searches (names, units and columns from the metric catalogue).

Tables fit the terminal without cutting a cell: :class:`Grid` lays its columns out at their natural widths, narrows
the text columns (which wrap) when that does not fit, and when even the narrowest layout is wider than the terminal
shows each row as a short block of ``header value`` pairs instead. Numbers are never wrapped inside or cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from harness.cli.text import plain
from harness.metrics.catalogue import CATALOGUE
from harness.scenarios.base import SearchResult

Cell = str | Text


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if 0 < abs(value) < 10:
        return f"{value:.3g}"
    if abs(value) >= 1e9:
        return f"{value / 2**30:.2f} GiB"
    if abs(value) >= 1e6:
        return f"{value / 2**20:.1f} MiB"
    return f"{value:,.{digits}f}"


def known(value: Any) -> bool:
    return value is not None and value == value


def _text(cell: Cell) -> Text:
    # a str cell is the harness's own (never markup either: a value such as `[1]` must print as written)
    return cell if isinstance(cell, Text) else Text(cell)


@dataclass
class Grid:
    """A table that stays readable at any width (see the module's doc). ``numeric`` columns are right-aligned and
    kept whole; the first ``key`` columns name a row in the stacked layout; ``notes`` are printed under it."""

    title: str
    headers: Sequence[str]
    numeric: frozenset[int] = frozenset()
    key: int = 1
    rows: list[list[Text]] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)

    def add_row(self, *cells: Cell) -> None:
        self.rows.append([_text(c) for c in cells])

    def table(self, widths: Sequence[int] | None = None) -> Table:
        table = Table(
            title=Text(self.title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False
        )
        for i, header in enumerate(self.headers):
            number = i in self.numeric
            table.add_column(
                header,
                justify="right" if number else "left",
                overflow="fold",  # a long word (a path) wraps at the column's edge rather than ending in "…"
                no_wrap=False,
                width=None if widths is None else widths[i],
            )
        for row in self.rows:
            table.add_row(*row)
        return table

    def _column_range(self, console: Console, options: ConsoleOptions, i: int) -> tuple[int, int]:
        cells = [Text(self.headers[i]), *(row[i] for row in self.rows)]
        measured = [Measurement.get(console, options, c) for c in cells]
        longest = max(m.maximum for m in measured)
        if i in self.numeric:  # a number and its ± wrap only between them, never inside
            return max(m.minimum for m in measured), longest
        return min(max(m.minimum for m in measured), 24), longest

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        natural = self.table()
        full = Measurement.get(console, options.update_width(10**6), natural)  # unbounded: its natural width
        if full.maximum <= width:
            yield natural
        else:
            ranges = [self._column_range(console, options, i) for i in range(len(self.headers))]
            extra = full.maximum - sum(high for _, high in ranges)  # borders and padding
            lows = [low for low, _ in ranges]
            slack = width - extra - sum(lows)
            if slack >= 0:
                yield self.table(_spread(lows, [high for _, high in ranges], slack))
            else:
                yield from self._stacked(width)
        yield from self.notes

    def _stacked(self, width: int) -> Iterator[RenderableType]:
        yield Text(self.title)
        for row in self.rows:
            yield Text(" ").join(c for c in row[: self.key] if c.plain) if self.key else Text("")
            line = Text("   ")
            for header, cell in zip(self.headers[self.key :], row[self.key :], strict=True):
                if not cell.plain:
                    continue
                pair = Text.assemble((header, "dim"), " ", cell)
                if line.cell_len > 3 and line.cell_len + 3 + pair.cell_len > width:
                    yield line
                    line = Text("   ")
                line.append_text(Text("   ") if line.cell_len > 3 else Text(""))
                line.append_text(pair)
            if line.cell_len > 3:
                yield line


def _spread(lows: list[int], highs: list[int], slack: int) -> list[int]:
    """Widths from each column's minimum, the slack handed to the columns that want more, narrowest first."""
    widths = list(lows)
    wanting = sorted(range(len(lows)), key=lambda i: highs[i] - lows[i])
    for n, i in enumerate(wanting):
        share = slack // (len(wanting) - n)
        grow = min(highs[i] - widths[i], share)
        widths[i] += grow
        slack -= grow
    return widths


def ci_text(value: float, low: Any, high: Any, unit: str | None) -> Text:
    """``value ±half-CI`` (dimmed)."""
    text = Text(fmt(value))
    if known(low) and known(high) and high > low and unit != "bytes":
        text.append(f" ±{fmt((high - low) / 2)}", style="dim")
    return text


# below this many repetitions a 95% CI is little more than the spread of the values seen
FEW_REPETITIONS = 5


def few_repetitions_note(counts: Iterable[int]) -> Text | None:
    """A warning under a table whose ± come from fewer than :data:`FEW_REPETITIONS` repetitions."""
    few = sorted({n for n in counts if 0 < n < FEW_REPETITIONS})
    if not few:
        return None
    shown = "/".join(str(n) for n in few)
    return Text(
        f"± is half the 95% CI from only n={shown} repetitions: it says little (use repetitions: "
        f"{FEW_REPETITIONS} or more for a CI to rely on)",
        style="yellow",
    )


def points_table(frame: Any, title: str, repetitions: dict[str, int] | None = None) -> Grid:
    """A run's points: the catalogue's key columns, then its optional ones that this run has values for. Errors
    are notes under the table (whole, not cut to a cell); ``repetitions`` (per point id) marks thin CIs."""
    shown = [(m.name, m.display) for m in CATALOGUE.show_columns()]
    shown += [
        (m.name, m.display)
        for m in CATALOGUE.optional_columns()
        if m.name in frame.columns and frame[m.name].notna().any()
    ]
    grid = Grid(
        title, ["#", "point", "status", *(h for _, h in shown)], frozenset({0, *range(3, 3 + len(shown))}), key=3
    )
    reps = repetitions or {}
    for _, row in frame.iterrows():
        cells: list[Cell] = []
        for metric, _ in shown:
            value = row.get(metric)
            if not known(value):
                cells.append("–")
                continue
            low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
            cells.append(ci_text(value, low, high, CATALOGUE.unit(metric)))
        status = Text(str(row["status"]), style={"ok": "green", "skipped": "yellow"}.get(row["status"], "red"))
        if row["status"] != "ok" and row["error"]:
            grid.notes.append(Text.assemble(f"[{len(grid.notes) + 1}] #{row['idx']}: ", plain(row["error"])))
            status.append(f" [{len(grid.notes)}]")
        grid.add_row(str(row["idx"]), plain(row["label"]), status, *cells)
    note = few_repetitions_note(reps.get(pid, 0) for pid in frame["point_id"]) if len(frame) else None
    if note is not None:
        grid.notes.insert(0, note)
    return grid


def search_lines(result: SearchResult) -> list[Text]:
    """A search's answer in a line or two."""
    if result.mode != "args":
        rate = result.found.get("rate_req_s")
        shown = f"{rate:.4g} req/s" if rate is not None else "none"
        return [plain(f"{result.label}: {result.goal}: {shown} ({result.note})")]
    lines = [plain(f"search: {len(result.trials)} of {result.grid_size} settings tried ({result.goal})")]
    best = next((t for t in result.trials if t.point_id == result.best_point_id), None)
    if best is None or not result.feasible:
        lines.append(
            plain(
                "search: no trial met the constraints"
                + (f"; closest: {best.setting} (point {best.point_id})" if best else ""),
                style="yellow",
            )
        )
        return lines
    objective = next(k for k in result.found if k != "setting")
    lines.append(
        Text.assemble(
            ("best", "bold green"),
            plain(
                f": {best.setting} — {objective} = {fmt(best.objective)} "
                f"(point {best.point_id}, trial {best.number + 1})"
            ),
        )
    )
    return lines


def machine_lines(points: list[dict[str, Any]], run_fingerprint: dict[str, Any]) -> list[str]:
    """Where a run's points were measured: one line per machine (its hardware and nodes) with the points' indexes."""
    from harness.results.machines import node_of, point_hardware

    where: dict[tuple[str, str], list[int]] = {}
    for p in points:
        if not (p.get("describe") or {}).get("machine"):
            continue  # stored before points had their own machine: the run's line above says where
        key = (point_hardware(p, run_fingerprint) or "?", node_of(p))
        where.setdefault(key, []).append(p["idx"])
    return [
        f"points {', '.join(map(str, sorted(idx)))}: {node} — {hardware}" for (hardware, node), idx in where.items()
    ]


def lines_of(texts: Iterable[Cell]) -> list[Text]:
    return [_text(t) for t in texts]
