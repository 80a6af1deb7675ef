"""``harness validate``, ``run`` and ``env``: check a suite, run it, build its engine environments."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

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
from harness.cli.tables import Grid, points_table, search_lines
from harness.cli.text import plain
from harness.plan.points import Point
from harness.plan.schema import ArgSearchSpec, Suite, SuiteError
from harness.results.store import Store, StoreError

if TYPE_CHECKING:
    from harness.execution.runner import Interrupted, Runner, RunOutcome


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


ExecutorOpt = Annotated[
    str | None,
    typer.Option("--executor", help="where groups run: local, ray or slurm (default: the suite's `executor:`)"),
]


def _executor_kind(value: str | None) -> str | None:
    from harness.plan.placement import EXECUTOR_KINDS

    if value is not None and value not in EXECUTOR_KINDS:
        raise fail(f"--executor: unknown executor {value!r}; use one of {', '.join(EXECUTOR_KINDS)}")
    return value


def _check_placement(suite: Path, parsed: Suite, points: list[Point], kind: str | None) -> None:
    """Every group has a node of the executor's cluster that can take it (exit 2 with the reasons otherwise)."""
    from harness.execution.executors import PlacementError, placement_problems

    if (kind or parsed.executor.kind) == "local":
        return
    try:
        problems = placement_problems(parsed, points, kind)
    except PlacementError as exc:
        raise fail(f"{suite}: {exc}") from None
    if problems:
        raise fail(f"{suite}: {len(problems)} group(s) cannot be placed: " + "; ".join(problems))


def _check_here(parsed: Suite, points: list[Point]) -> None:
    """The engines' own checks on this machine (exit 2), and which points it will skip, said before the run."""
    from harness.execution.preflight import machine_report, preflight

    try:
        preflight(parsed, points)
    except SuiteError as exc:
        raise fail(str(exc)) from None
    for line in machine_report(parsed, points).skip_lines():
        err.print(line, markup=False, highlight=False)


def validate(suite: SuiteArg, executor: ExecutorOpt = None) -> None:
    """Check a suite (schema, adapters, quantizations, devices, samplers, the files it names) and this machine, and
    print how many points it expands to and which of them will be skipped here, and why. With a cluster executor,
    also that every engine group has a node that can take its hardware target."""
    from harness.execution.preflight import machine_report
    from harness.gate.config import repetitions_warning

    executor = _executor_kind(executor)
    parsed, points = load_checked(suite)
    kind = executor or parsed.executor.kind
    _check_placement(suite, parsed, points, executor)
    groups = len({p.group_id for p in points})
    gate_warning = repetitions_warning(parsed.gate, parsed.repetitions) if "gate" in parsed.model_fields_set else None
    lines = [
        f"{suite}: ok — suite {parsed.name!r}, {_count(len(points), 'point')} in {_count(groups, 'engine group')}, "
        f"{_count(parsed.repetitions, 'repetition')} each",
        *([f"  warning: {gate_warning}"] if gate_warning else []),
    ]
    if kind != "local":  # the cluster's nodes run the groups, not this machine
        lines.append(f"  executor {kind}: every engine group has a node that can take its hardware target")
    else:
        report = machine_report(parsed, points)
        if report.runnable == 0:
            raise fail(f"{suite}: {report.nothing_runs()}")
        lines += [*(f"  {line}" for line in report.skip_lines()), *(f"  note: {note}" for note in report.notes)]
    for line in lines:  # plain text: the suite's name is the user's, and `[...]` in it is not markup
        out.print(plain(line), highlight=False)


def _dry_run(parsed: Suite, points: list[Point]) -> None:
    title = f"{parsed.name}: {len(points)} points"
    if isinstance(parsed.search, ArgSearchSpec):
        title += f" in the search grid; a search tries at most {parsed.search.max_trials}"
    table = Grid(title, ("#", "point id", "group", "point"), frozenset({0}), key=2)
    for p in points:
        table.add_row(str(p.index), p.point_id, p.group_id[:8], plain(p.label()))
    out.print(table)


def _resume_target(st: Store, parsed: Suite, resume: bool, run_id: str | None) -> str | None:
    from harness.plan.expand import suite_hash

    if not resume:
        return None
    target = run_id or st.latest_resumable_run(suite_hash(parsed))
    if target is None:
        raise fail(f"--resume: no earlier run of suite {parsed.name!r} in {st.name}")
    try:
        st.get_run(target)
    except StoreError as exc:
        raise fail(f"--resume: {exc}") from None
    return target


def _say_interrupted(stop: Interrupted, suite: Path, store: str) -> None:
    """One line: what stopped the run, what is kept, and the command that continues it (with its store)."""
    from harness.interrupts import signal_name

    outcome = stop.outcome
    err.print(
        Text.assemble(
            ("interrupted", "yellow"),
            plain(
                f" ({signal_name(outcome.signum or signal.SIGINT)}): {outcome.ok} points stored in run "
                f"{outcome.run_id}, marked interrupted; continue with: {resume_command(suite, store, outcome.run_id)}"
            ),
        ),
        highlight=False,
        soft_wrap=True,
    )


def _run_or_exit(runner: Runner, resume_target: str | None, suite: Path, store: str) -> RunOutcome:
    """The runner's outcome, or the exit that says why there is none (unplaceable, queued, interrupted)."""
    from harness.execution.executors import PlacementError
    from harness.execution.executors.slurm import Submitted
    from harness.execution.runner import Interrupted

    try:
        return runner.run(resume_run=resume_target)
    except PlacementError as exc:
        raise fail(str(exc)) from None
    except Submitted as queued:
        out.print(f"{queued}", markup=False, highlight=False)
        raise typer.Exit(0) from None
    except Interrupted as stop:
        _say_interrupted(stop, suite, store)
        raise typer.Exit(stop.exit_code) from None


def resume_command(suite: Path, store: str, run_id: str) -> str:
    """The command that continues ``run_id``, to paste as printed: it names the store even when it is the default
    (a default is relative to the current directory, and ``HARNESS_STORE`` may differ in the next shell)."""
    import shlex

    return shlex.join(["harness", "run", str(suite), "--store", shown_store(store), "--resume", "--run-id", run_id])


def run(
    suite: SuiteArg,
    store: StoreOpt = DEFAULT_STORE,
    resume: Annotated[bool, typer.Option(help="continue the latest run of this suite, skipping stored points")] = False,
    run_id: Annotated[str | None, typer.Option(help="with --resume: the run to continue")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the points and exit")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    usd_per_hour: Annotated[
        float | None, typer.Option(min=0.0, help="USD per device-hour for cost figures (overrides the suite's cost:)")
    ] = None,
    executor: ExecutorOpt = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="slurm: submit the tasks and return; `harness collect RUN` imports them")
    ] = False,
) -> None:
    """Run a sweep and store every point."""
    executor = _executor_kind(executor)
    parsed, points = load_checked(suite)
    if dry_run:
        _dry_run(parsed, points)
        return

    from harness.cli.progress import RichReporter
    from harness.execution.runner import Runner

    if (executor or parsed.executor.kind) == "local":  # a cluster's nodes, not this machine, run the groups
        _check_here(parsed, points)
    try:  # a run creates its store, but a run to resume is in one that exists
        st = Store(store, create=not resume)
    except StoreError as exc:
        raise fail(f"--resume: no earlier run of suite {parsed.name!r}: {exc}" if resume else str(exc)) from None
    if st.created:  # said before the run, so a misspelt --store is seen at once, not after the sweep
        made = f" and directory {st.created_dirs[0]}" if st.created_dirs else ""
        err.print(f"new results store {st.name}{made}", markup=False, highlight=False)
    resume_target = _resume_target(st, parsed, resume, run_id)
    log_dir = st.path.parent / "logs" if st.path is not None else None
    # the text it was validated from (read once, within bounds), not the file read again
    runner = Runner(
        parsed,
        parsed._text,
        st,
        reporter=RichReporter(err, progress),
        log_dir=log_dir,
        executor=executor,
        usd_per_hour=usd_per_hour,
        wait=not no_wait,
    )
    _import_meanwhile("pandas")  # the closing table needs it; the run itself mostly waits on its workers
    outcome = _run_or_exit(runner, resume_target, suite, store)
    _finish(st, parsed, suite, store, outcome)


def _import_meanwhile(module: str) -> None:
    """Import ``module`` on a daemon thread: the runner spends its time waiting for engine workers, and the 0.4 s
    pandas costs would otherwise come after the last point (benchmarks/sweep_overhead.py)."""
    import importlib
    import threading

    def load() -> None:
        try:
            importlib.import_module(module)
        except ImportError:  # said by whoever imports it for real
            pass

    threading.Thread(target=load, name=f"import {module}", daemon=True).start()


def _finish(st: Store, parsed: Suite, suite: Path, store: str, outcome: RunOutcome) -> None:
    """The run's table, where it was stored, searches' answers, what to do next; exit 1 if a point failed or
    nothing could be measured here."""
    from harness.cli.hardware_commands import efficiency_lines
    from harness.results.frames import load_points

    frame = load_points(st, outcome.run_id)
    out.print(points_table(frame, f"run {outcome.run_id} ({parsed.name})", repetitions(st, outcome.run_id)))
    for note in efficiency_lines(st.points(outcome.run_id)):
        out.print(note, highlight=False)
    out.print(
        plain(
            f"stored run {outcome.run_id} in {st.name}: {outcome.ok} ok, {outcome.failed} failed"
            + (f", {outcome.unsupported} skipped (unsupported here)" if outcome.unsupported else "")
            + (f", {outcome.skipped} already stored" if outcome.skipped else "")
        ),
        highlight=False,
    )
    for result in outcome.searches:
        # a serving search's answer goes beside the progress (stderr), an argument search's to stdout
        for line in search_lines(result):
            (err if result.mode != "args" else out).print(line, highlight=False)
    if outcome.failed:
        err.print(
            plain(f"run the failed points again with: {resume_command(suite, store, outcome.run_id)}"),
            highlight=False,
            soft_wrap=True,
        )
    if outcome.ok:
        for step in next_steps(store, outcome.run_id):
            out.print(plain(step), highlight=False, soft_wrap=True)
    if outcome.failed:
        raise typer.Exit(EXIT_FAILED)
    if outcome.unsupported and not outcome.ok and not outcome.skipped:
        reasons = sorted({str(e) for e in frame.loc[frame["status"] == "skipped", "error"] if e})
        err.print(
            plain(
                f"nothing was measured: all {outcome.unsupported} points were skipped on this machine: "
                + ("; ".join(reasons) or "no reason recorded")
            ),
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED)


def repetitions(st: Store, run_id: str) -> dict[str, int]:
    """How many repetitions each point's medians and CIs come from."""
    return {
        point_id: max((len(values) for values in metrics.values()), default=0)
        for point_id, metrics in st.repetition_values(run_id).items()
    }


def shown_store(url: str) -> str:
    """A store's URL as printed: a password in it is hidden."""
    if url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is printed by nobody but its owner
        return url


def next_steps(store: str, run_id: str) -> list[str]:
    """What to do with a finished run: look at it, and turn it into a report. The commands are lines of their own,
    never wrapped, so that they paste whole."""
    import shlex

    where = [] if store == DEFAULT_STORE else ["--store", shown_store(store)]
    return [
        "next: the table again, or an HTML dashboard (one file that opens offline):",
        "  " + shlex.join(["harness", "show", run_id, *where]),
        "  " + shlex.join(["harness", "report", run_id, *where]),
    ]


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


def collect(
    run: Annotated[str, typer.Argument(help="the run submitted with --no-wait (id, prefix or tag)")],
    store: StoreOpt = DEFAULT_STORE,
    wait: Annotated[bool, typer.Option(help="wait until every task has ended (--no-wait: import what landed)")] = True,
    shared_dir: Annotated[str | None, typer.Option(help="where the tasks write (default: the suite's)")] = None,
) -> None:
    """Import the points of a run whose Slurm tasks were submitted earlier; the run is finished once all ended."""
    from harness.execution.executors import PlacementError
    from harness.execution.executors.collect import collect as collect_run

    st = open_store(store)
    try:
        run_id = st.resolve(run)
        got = collect_run(st, run_id, wait=wait, shared_dir=shared_dir)
    except (StoreError, PlacementError, SuiteError) as exc:
        raise fail(str(exc)) from None
    for label, error in got.failures:
        err.print(f"failed: {label}: {error}", markup=False, highlight=False)
    left = f"; {got.pending} task(s) still queued or running" if got.pending else "; every task has ended"
    out.print(f"run {run_id}: imported {got.ok} ok, {got.failed} failed{left}", markup=False, highlight=False)
    if got.failed:
        raise typer.Exit(EXIT_FAILED)
