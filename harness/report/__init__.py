"""``harness report``: stored runs as one self-contained HTML dashboard (plotly embedded, no network at view time).

- ``data.py`` gathers what the page shows from the store (metrics with CIs, Pareto fronts, decimated timelines,
  the comparison and the gate's verdicts);
- ``render.py`` writes the HTML (page script and style in ``assets/``);
- ``browser.py`` drives headless Chromium over the DevTools protocol (tests and ``benchmarks/report_scale.py``).
"""

from __future__ import annotations

from pathlib import Path

from harness.report.data import collect
from harness.report.render import ReportError, render_html
from harness.results.store import Store

__all__ = ["ReportError", "build_report", "write_report"]


def build_report(opened: list[tuple[Store, str]], title: str | None = None) -> str:
    """The HTML of a report on ``opened`` runs (``(store, run_id)``; the first is the reference, the last is shown
    in detail)."""
    if not opened:
        raise ReportError("no run to report on")
    data = collect(opened)
    main = data["runs"][data["main"]]
    title = title or (
        f"{main['suite_name']} — run {main['run_id']}" + (f" vs {opened[0][1]}" if len(opened) > 1 else "")
    )
    return render_html(data, title)


def write_report(opened: list[tuple[Store, str]], output: Path, title: str | None = None) -> Path:
    """Write the report atomically (a half-written file never carries the final name)."""
    text = build_report(opened, title)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output
