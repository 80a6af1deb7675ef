"""``harness ls``, ``show``, ``export``, ``import`` and ``tag``: what the store holds, and moving runs around."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from harness.cli.app import DEFAULT_STORE, StoreOpt, fail, open_store, out
from harness.cli.tables import Grid, points_table, search_lines
from harness.cli.text import plain
from harness.hints import EXTRAS, needs
from harness.results.store import StoreError


def list_runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List stored runs."""
    import datetime

    from harness.results.liveness import shown_status

    st = open_store(store)
    headers = ("run", "suite", "started", "status", "points ok", "failed", "tags")
    table = Grid(f"runs in {st.name}", headers, frozenset({4, 5}), key=2)
    for r in st.runs():
        started = datetime.datetime.fromtimestamp(r["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            plain(r["run_id"]),
            plain(r["suite_name"]),
            started,
            plain(shown_status(r)),
            str(r["points"].get("ok", 0)),
            str(r["points"].get("failed", 0)),
            plain(", ".join(r["tags"])),
        )
    out.print(table)


def show(
    run: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    store: StoreOpt = DEFAULT_STORE,
    best: Annotated[bool, typer.Option("--best", help="name the cheapest point per model that meets the SLO")] = False,
) -> None:
    """Show a run's points with their key metrics (median across repetitions ± half the 95% CI)."""
    from harness.cli.hardware_commands import best_table, efficiency_lines
    from harness.cli.run_commands import repetitions
    from harness.cli.tables import machine_lines
    from harness.results.frames import load_points
    from harness.results.liveness import shown_status
    from harness.scenarios.base import SearchResult

    st = open_store(store)
    try:
        meta = st.get_run(st.resolve(run))
    except StoreError as exc:
        raise fail(str(exc)) from None
    fp = meta["fingerprint"]
    out.print(
        Text.assemble(
            "run ",
            (meta["run_id"], "bold"),
            plain(
                f" suite {meta['suite_name']!r} status {shown_status(meta)} — "
                f"{fp.get('cpu_model')}, python {fp.get('python')}, git {fp.get('git_sha')}"
            ),
        ),
        highlight=False,
    )
    frame = load_points(st, meta["run_id"])
    out.print(points_table(frame, f"run {meta['run_id']}", repetitions(st, meta["run_id"])))
    for line in efficiency_lines(st.points(meta["run_id"])):
        out.print(line, highlight=False)
    for where in machine_lines(st.points(meta["run_id"]), fp):
        out.print(plain(where), highlight=False)
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
            out.print(plain(export_bundle(st, run_id, target)), highlight=False)
        except StoreError as exc:
            raise fail(str(exc)) from None
        return
    try:
        paths = export_run(st, run, fmt, output)  # type: ignore[arg-type]
    except StoreError as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:
        # not pandas' own explanation (four lines naming fastparquet too): the one module to install
        raise fail(needs("parquet export", exc.name if exc.name in EXTRAS else "pyarrow")) from None
    for path in paths:
        out.print(plain(path), highlight=False)


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
    out.print(plain(f"imported run {run_id}" + (f" as {tag!r}" if tag else "")), highlight=False)


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
    out.print(plain(f"{name} → {run_id}"), highlight=False)
