"""The gate's verdicts as the terminal shows them: a :class:`~harness.cli.tables.Grid` (whole numbers at any width;
point names and notes are the suite's and the engine's text, printed plain)."""

from __future__ import annotations

from rich.text import Text

from harness.cli.tables import Grid
from harness.cli.text import plain
from harness.gate.output import STYLES, _change, _num, _rows
from harness.gate.verdicts import GateReport

HEADERS = ("verdict", "point", "metric", "baseline", "candidate", "change", "threshold", "p", "note")


def gate_grid(report: GateReport, everything: bool = False) -> Grid:
    grid = Grid(
        f"gate: {report.candidate_run} vs baseline {report.baseline_run} — {report.summary_line()}",
        HEADERS,
        numeric=frozenset(range(3, 8)),
        key=3,
    )
    for c in _rows(report, everything):
        grid.add_row(
            Text(c.verdict, style=STYLES.get(c.verdict, "")),
            plain(c.point),
            plain(c.metric),
            _num(c.baseline),
            _num(c.candidate),
            _change(c),
            "" if c.threshold_pct is None else f"±{c.threshold_pct:g}%",
            "" if c.p_value is None else f"{c.p_value:.3f}",
            plain(c.note),
        )
    return grid
