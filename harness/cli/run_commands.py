"""``harness validate``, ``run`` and ``env``: check a suite, run it, build its engine environments."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import (
    DEFAULT_STORE,
    EXIT_FAILED,
    StoreOpt,
    SuiteArg,
    err,
    fail,
    load_checked,
    open_store,
    out,
)
from harness.cli.tables import points_table, search_lines
from harness.plan.points import Point
from harness.plan.schema import ArgSearchSpec, Suite, SuiteError
from harness.results.store import Store, StoreError

if TYPE_CHECKING:
    from harness.execution.runner import Interrupted


def validate(suite: SuiteArg) -> None:
    """Check a suite (schema, adapters, quantizations, samplers) and print how many points it expands to."""
    parsed, points = load_checked(suite)
    groups = len({p.group_id for p in points})
    out.print(
        f"{suite}: ok — suite {parsed.name!r}, {len(points)} points in {groups} engine groups, "
        f"{parsed.repetitions} repetitions each",
        highlight=False,
    )


def _dry_run(parsed: Suite, points: list[Point]) -> None:
    title = f"{parsed.name}: {len(points)} points"
    if isinstance(parsed.search, ArgSearchSpec):
        title += f" in the search grid; a search tries at most {parsed.search.max_trials}"
    table = Table(title=title, title_justify="left")
    for column in ("#", "point id", "group", "point"):
        table.add_column(column)
    for p in points:
        table.add_row(str(p.index), p.point_id, p.group_id[:8], p.label())
    out.print(table)


def _resume_target(st: Store, parsed: Suite, resume: bool, run_id: str | None) -> str | None:
    from harness.plan.expand import suite_hash

    if not resume:
        return None
    target = run_id or st.latest_resumable_run(suite_hash(parsed))
    if target is None:
        raise fail(f"--resume: no earlier run of suite {parsed.name!r} in {st.url}")
    try:
        st.get_run(target)
    except StoreError as exc:
        raise fail(f"--resume: {exc}") from None
    return target


def _say_interrupted(stop: Interrupted, suite: Path, store: str) -> None:
    """One line: what stopped the run, what is kept, and the command that continues it (with its store)."""
    import shlex

    from harness.interrupts import signal_name

    outcome = stop.outcome
    command = ["harness", "run", str(suite), "--resume", "--run-id", outcome.run_id]
    if store != DEFAULT_STORE:
        command[3:3] = ["--store", store]
    err.print(
        f"[yellow]interrupted[/] ({signal_name(outcome.signum or signal.SIGINT)}): {outcome.ok} points stored in "
        f"run {outcome.run_id}, marked interrupted; continue with: {escape(shlex.join(command))}",
        highlight=False,
        soft_wrap=True,
    )


def run(
    suite: SuiteArg,
    store: StoreOpt = DEFAULT_STORE,
    resume: Annotated[bool, typer.Option(help="continue the latest run of this suite, skipping stored points")] = False,
    run_id: Annotated[str | None, typer.Option(help="with --resume: the run to continue")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the points and exit")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run a sweep and store every point."""
    parsed, points = load_checked(suite)
    if dry_run:
        _dry_run(parsed, points)
        return

    from harness.cli.progress import RichReporter
    from harness.execution.preflight import preflight
    from harness.execution.runner import Interrupted, Runner
    from harness.results.frames import load_points

    try:
        preflight(parsed, points)
    except SuiteError as exc:
        raise fail(str(exc)) from None
    st = open_store(store)
    resume_target = _resume_target(st, parsed, resume, run_id)
    log_dir = Path(st.url.removeprefix("sqlite:///")).parent / "logs" if st.url.startswith("sqlite") else None
    runner = Runner(parsed, suite.read_text(), st, reporter=RichReporter(err, progress), log_dir=log_dir)
    try:
        outcome = runner.run(resume_run=resume_target)
    except Interrupted as stop:
        _say_interrupted(stop, suite, store)
        raise typer.Exit(stop.exit_code) from None
    out.print(points_table(load_points(st, outcome.run_id), f"run {outcome.run_id} ({parsed.name})"))
    out.print(
        f"stored run [bold]{outcome.run_id}[/] in {st.url}: {outcome.ok} ok, {outcome.failed} failed"
        + (f", {outcome.unsupported} skipped (unsupported here)" if outcome.unsupported else "")
        + (f", {outcome.skipped} already stored" if outcome.skipped else "")
    )
    for result in outcome.searches:
        # a serving search's answer goes beside the progress (stderr), an argument search's to stdout
        for line in search_lines(result):
            (err if result.mode != "args" else out).print(line, highlight=False)
    if outcome.failed:
        raise typer.Exit(EXIT_FAILED)


def build_envs(suite: SuiteArg) -> None:
    """Build (or find) the engine environments a suite names under `env:`, and print their interpreters."""
    from harness.execution.engine_process import WorkerFailure, worker_python

    parsed, points = load_checked(suite)
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
