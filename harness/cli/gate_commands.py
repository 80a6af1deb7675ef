"""``harness gate``, ``compare`` and ``report``: two runs against each other, and the HTML dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from harness.cli.app import DEFAULT_STORE, EXIT_FAILED, StoreOpt, err, fail, open_store, out
from harness.cli.tables import Grid, fmt, known
from harness.cli.text import plain
from harness.results.store import StoreError

AllowHardwareOpt = Annotated[
    bool,
    typer.Option(
        "--allow-different-hardware", help="pair points measured on different hardware (CPU, GPUs, driver) anyway"
    ),
]


def gate(
    baseline: Annotated[str, typer.Option("--baseline", "-b", help="run id, tag (e.g. main) or bundle file")],
    candidate: Annotated[str, typer.Option("--candidate", "-c", help="run id, tag or bundle file")],
    store: StoreOpt = DEFAULT_STORE,
    threshold_pct: Annotated[float | None, typer.Option(help="override the suite's default threshold (%)")] = None,
    alpha: Annotated[float | None, typer.Option(help="override the significance level")] = None,
    markdown: Annotated[Path | None, typer.Option(help="write a Markdown summary (CI job summary)")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the verdicts as JSON")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="list unchanged comparisons too")] = False,
    allow_different_hardware: AllowHardwareOpt = False,
    allow_inconclusive: Annotated[
        bool, typer.Option("--allow-inconclusive", help="exit 0 when the verdict is INCONCLUSIVE (nothing testable)")
    ] = False,
) -> None:
    """Decide whether the candidate regressed against the baseline. Exit 1 on a regression, a newly failed point or
    a metric gone from the candidate, and on an INCONCLUSIVE verdict (a change the test could not confirm, or nothing
    testable) unless --allow-inconclusive."""
    from harness.cli.gate_table import gate_grid
    from harness.gate.inputs import GateInputError, load_gate_runs
    from harness.gate.output import to_json, to_junit, to_markdown
    from harness.results.runref import open_run

    st = open_store(store)
    try:
        runs = load_gate_runs(open_run(st, baseline), open_run(st, candidate), allow_different_hardware)
    except (StoreError, GateInputError) as exc:
        raise fail(str(exc)) from None
    config = runs.config
    if threshold_pct is not None:
        config.threshold_pct = threshold_pct
        for rule in config.metrics.values():
            rule.threshold_pct = None
    if alpha is not None:
        config.alpha = alpha
    report = runs.verdict()
    if report.environment_changes:
        err.print(
            Text.assemble(
                ("environment changed between the runs:", "yellow"), " ", plain("; ".join(report.environment_changes))
            ),
            highlight=False,
        )
    out.print(gate_grid(report, everything=show_all))
    for path, text in ((markdown, to_markdown), (junit, to_junit), (json_out, to_json)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(report))
    out.print(plain(report.summary_line()), highlight=False)
    if report.failed or (report.inconclusive and not allow_inconclusive):
        raise typer.Exit(EXIT_FAILED)


def compare(
    runs: Annotated[list[str], typer.Argument(help="two or more run ids, tags or bundle files; first = reference")],
    store: StoreOpt = DEFAULT_STORE,
    allow_different_hardware: AllowHardwareOpt = False,
) -> None:
    """Side-by-side table of every point's key metrics across runs, with the change against the first run and CIs."""
    from harness.results.compare import compare_runs
    from harness.results.machines import HardwareMismatch
    from harness.results.runref import open_run

    if len(runs) < 2:
        raise fail("compare needs at least two runs")
    st = open_store(store)
    try:
        opened = [open_run(st, ref) for ref in runs]
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        frame = compare_runs(opened, allow_different_hardware=allow_different_hardware)
    except HardwareMismatch as exc:
        raise fail(str(exc)) from None
    if frame.empty:
        raise fail(f"run {opened[0][1]} has no points to compare")
    headers = ["point", "metric", *(run_id for _, run_id in opened)]
    table = Grid("compare: " + " vs ".join(r for _, r in opened), headers, frozenset(range(2, len(headers))), key=2)
    for (point, metric), group in frame.groupby(["point", "metric"], sort=False):
        cells: list[str | Text] = []
        for _, row in group.iterrows():
            if row["status"] != "ok":
                cells.append(plain(row["status"], style="red"))
                continue
            text = Text(fmt(row["value"], 2))
            if known(row["ci_low"]) and known(row["ci_high"]) and row["ci_high"] > row["ci_low"]:
                text.append(f" [{fmt(row['ci_low'], 2)}, {fmt(row['ci_high'], 2)}]", style="dim")
            if known(row["change_pct"]) and row["run_id"] != opened[0][1]:
                text.append(f" ({row['change_pct']:+.1f}%)")
            cells.append(text)
        table.add_row(plain(point), plain(metric), *cells)
    out.print(table)


def report(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="run ids, prefixes, tags or bundle files (default: the "
            "latest finished run); with several, the first is the reference"
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="the HTML file to write")] = Path(
        "reports/report.html"
    ),
    title: Annotated[str | None, typer.Option(help="page title")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write one self-contained HTML dashboard (plotly embedded; opens offline) of one run, or a comparison."""
    from harness.report import ReportError, write_report
    from harness.results.runref import open_run

    if output.suffix.lower() not in (".html", ".htm"):
        raise fail(f"--output: {str(output)!r} must end in .html")
    st = open_store(store)
    try:
        if not runs:
            latest = st.latest_run()
            if latest is None:
                going = st.latest_run(include_unfinished=True)
                raise fail(
                    f"no finished run in {st.name}: "
                    + (f"name run {going} to report it as it is" if going else "run a suite first (harness run SUITE)")
                )
            runs = [latest]
        opened = [open_run(st, ref) for ref in runs]
        path = write_report(opened, output, title)
    except (StoreError, ReportError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"--output: cannot write {str(output)!r}: {exc.strerror or exc}") from None
    out.print(
        plain(f"{path} ({path.stat().st_size / 2**20:.2f} MiB): " + ", ".join(r for _, r in opened)), highlight=False
    )
