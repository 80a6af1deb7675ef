"""``harness ls``, ``show``, ``export``, ``import`` and ``tag``: what the store holds, and moving runs around."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import DEFAULT_STORE, StoreOpt, fail, open_store, out
from harness.cli.tables import points_table, search_lines
from harness.results.store import StoreError


def list_runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List stored runs."""
    import datetime

    st = open_store(store)
    table = Table(title=f"runs in {escape(st.name)}", title_justify="left")
    for column in ("run", "suite", "started", "status", "points ok", "failed", "tags"):
        table.add_column(column)
    for r in st.runs():
        started = datetime.datetime.fromtimestamp(r["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            r["run_id"],
            r["suite_name"],
            started,
            r["status"],
            str(r["points"].get("ok", 0)),
            str(r["points"].get("failed", 0)),
            ", ".join(r["tags"]),
        )
    out.print(table)


def show(
    run: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    store: StoreOpt = DEFAULT_STORE,
    best: Annotated[bool, typer.Option("--best", help="name the cheapest point per model that meets the SLO")] = False,
) -> None:
    """Show a run's points with their key metrics (median across repetitions ± half the 95% CI)."""
    from harness.cli.hardware_commands import best_table, efficiency_lines
    from harness.cli.tables import machine_lines
    from harness.results.frames import load_points
    from harness.scenarios.base import SearchResult

    st = open_store(store)
    try:
        meta = st.get_run(st.resolve(run))
    except StoreError as exc:
        raise fail(str(exc)) from None
    fp = meta["fingerprint"]
    out.print(
        f"run [bold]{meta['run_id']}[/] suite {meta['suite_name']!r} status {meta['status']} — "
        f"{fp.get('cpu_model')}, python {fp.get('python')}, git {fp.get('git_sha')}"
    )
    frame = load_points(st, meta["run_id"])
    out.print(points_table(frame, f"run {meta['run_id']}"))
    for line in efficiency_lines(st.points(meta["run_id"])):
        out.print(line, highlight=False)
    for line in machine_lines(st.points(meta["run_id"]), fp):
        out.print(line, markup=False, highlight=False)
    if best:
        out.print(best_table(frame, meta["suite_yaml"]))
    for result in SearchResult.from_stored(st.points(meta["run_id"])):
        for line in search_lines(result):
            out.print(line, highlight=False)


def export(
    run: Annotated[str, typer.Argument(help="run id")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="csv, parquet, or bundle (the whole run in one file)")
    ] = "csv",
    output: Annotated[Path, typer.Option("--output", "-o", help="directory (csv, parquet) or file (bundle)")] = Path(
        "results/export"
    ),
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export a run: points, repetitions, requests and samples as CSV/Parquet files, or the whole run as one bundle
    file (`harness import` and `harness gate` read it) for CI artifacts."""
    from harness.results.frames import export_run

    if fmt not in ("csv", "parquet", "bundle"):
        raise fail(f"--format: unknown format {fmt!r}; use csv, parquet or bundle")
    st = open_store(store)
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


def import_run(
    bundle: Annotated[Path, typer.Argument(help="a run bundle written by `harness export --format bundle`")],
    store: StoreOpt = DEFAULT_STORE,
    tag: Annotated[str | None, typer.Option(help="tag the imported run, e.g. main")] = None,
    replace: Annotated[bool, typer.Option(help="replace the run if the store already holds it")] = False,
) -> None:
    """Import a whole run from a bundle file."""
    from harness.results.bundle import import_bundle

    st = open_store(store, create=True)
    try:
        run_id = import_bundle(st, bundle, replace=replace)
        if tag:
            st.set_tag(tag, run_id)
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(f"imported run {run_id}" + (f" as {tag!r}" if tag else ""))


def tag(
    run: Annotated[str, typer.Argument(help="run id, prefix or existing tag")],
    name: Annotated[str, typer.Argument(help="tag name, e.g. main; an existing tag moves to this run")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Tag a run (e.g. the baseline `main`); gate and compare accept tags wherever they take a run."""
    st = open_store(store)
    try:
        run_id = st.resolve(run)
        st.set_tag(name, run_id)
    except StoreError as exc:
        raise fail(str(exc)) from None
    out.print(f"{name} → {run_id}")
