"""Runs a suite: opens (or resumes) a run in the store, lets the suite's scenario drive an executor, writes every
measured point atomically as it arrives, records the searches' answers, and closes the run.

The runner knows no engine, sampler or search by name: the scenario decides what is measured
(``harness.scenarios``), the executor where (``harness.execution.executors``), samplers what else is recorded
(``harness.measure.samplers``), and a reporter what the user sees (``harness.execution.reporter``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import __version__, interrupts
from harness.execution.context import ExecutionContext
from harness.execution.executors import create_executor
from harness.execution.measure import MeasureSettings
from harness.execution.reporter import NullReporter, Reporter
from harness.execution.stored import StoredPoint
from harness.hardware.basis import HardwareSettings
from harness.measure.fingerprint import fingerprint
from harness.plan.expand import expand, suite_hash
from harness.plan.points import Point
from harness.plan.schema import Suite
from harness.records import RunClock
from harness.results.store import Store
from harness.scenarios import scenario_for
from harness.scenarios.base import SearchResult


@dataclass
class RunOutcome:
    run_id: str
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # already stored by an earlier session (--resume)
    unsupported: int = 0  # stored as skipped: the engine cannot run the combination here
    interrupted: bool = False
    signum: int | None = None  # the signal that stopped it (SIGINT, SIGTERM)
    failures: list[tuple[str, str]] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)

    def count(self, stored: StoredPoint) -> None:
        if stored.status == "ok":
            self.ok += 1
        elif stored.status == "skipped":
            self.unsupported += 1
        else:
            self.failed += 1
            self.failures.append((stored.point.label(), stored.error or ""))


class Interrupted(Exception):
    """The run was stopped by a signal: marked ``interrupted`` in the store, every point written so far kept."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome

    @property
    def exit_code(self) -> int:
        return interrupts.exit_code(self.outcome.signum or 2)


def run_clock(store: Store, run_id: str) -> RunClock:
    """The run's one clock, continued across sessions: zero at the run's wall-clock start, and never behind a
    point stored earlier (``started_ns``/``finished_ns`` of a resumed session follow the earlier ones)."""
    run = store.get_run(run_id)
    since_start = time.time_ns() - int(run["started_at"] * 1e9)
    stored = [p["finished_ns"] or 0 for p in store.points(run_id)]
    elapsed = max([since_start, *(f + 1 for f in stored)])
    return RunClock(origin_ns=time.monotonic_ns() - elapsed)


class Runner:
    def __init__(
        self,
        suite: Suite,
        suite_text: str,
        store: Store,
        reporter: Reporter | None = None,
        log_dir: Path | None = None,
        executor: str | None = None,
        usd_per_hour: float | None = None,
        wait: bool = True,
    ) -> None:
        self.suite = suite
        self.suite_text = suite_text
        self.store = store
        self.reporter: Reporter = reporter or NullReporter()
        self.log_dir = log_dir or Path("results/logs")
        self.executor = executor  # --executor: overrides the kind of the suite's `executor:`
        self.wait = wait  # --no-wait: a cluster executor submits the groups and returns (``harness collect``)
        self.usd_per_hour = usd_per_hour  # --usd-per-hour: a price for cost figures, not part of the suite

    def open_run(self, resume_run: str | None = None) -> tuple[str, dict[str, dict[str, float | None]]]:
        """A new run in the store (or the one to resume) and its points already stored as ok, with their medians."""
        from harness.results.liveness import DRIVER_KEY, this_driver

        if resume_run:
            run_id = self.store.get_run(resume_run)["run_id"]
            self.store.claim_run(run_id, this_driver())  # running again, by this process (``harness ls``)
            return run_id, self.store.completed_metrics(run_id)
        run_id = self.store.create_run(
            self.suite.name,
            suite_hash(self.suite),
            self.suite_text,
            {**fingerprint(), DRIVER_KEY: this_driver()},
            __version__,
        )
        return run_id, {}

    def _todo(self, points: list[Point], done: dict[str, dict[str, float | None]], outcome: RunOutcome) -> list[Point]:
        """A sweep's points not stored yet. A search's points stay: its trials are found in ``done`` as it runs."""
        if self.suite.search is not None:
            return points
        todo = [p for p in points if p.point_id not in done]
        outcome.skipped = len(points) - len(todo)
        if outcome.skipped:
            self.reporter.message(
                f"resuming run {outcome.run_id}: {outcome.skipped} of {len(points)} points already stored"
            )
        return todo

    def _record_searches(self, run_id: str, results: list[SearchResult]) -> None:
        for result in results:
            for point_id, entry in result.describe_entries().items():
                self.store.update_describe(run_id, point_id, {"search": entry})

    def _hardware(self, run_id: str) -> HardwareSettings:
        """The machine, its calibrations in the store and the prices, for the points' efficiency and cost."""
        return HardwareSettings(
            fingerprint=self.store.get_run(run_id)["fingerprint"],
            calibrations=self.store.calibrations(),
            cost=self.suite.cost,
            usd_per_hour=self.usd_per_hour,
        )

    def run(self, resume_run: str | None = None) -> RunOutcome:
        """Measure every point not stored yet. SIGINT/SIGTERM (``harness.interrupts``) or Ctrl-C anywhere after the
        run is opened marks it ``interrupted`` and raises ``Interrupted``; points already written stay."""
        run_id: str | None = None
        outcome: RunOutcome | None = None
        try:
            with interrupts.deferred():  # a new run is stored whole before a signal is taken
                run_id, done = self.open_run(resume_run)
            outcome = RunOutcome(run_id=run_id)
            return self._run(run_id, done, outcome)
        except (KeyboardInterrupt, interrupts.Stopped) as exc:
            if run_id is None:
                raise
            outcome = outcome or RunOutcome(run_id=run_id)
            self.store.finish_run(run_id, "interrupted")
            outcome.interrupted = True
            outcome.signum = interrupts.stop_requested(exc)
            raise Interrupted(outcome) from None

    def _sink(self, run_id: str, outcome: RunOutcome) -> Callable[[StoredPoint], None]:
        def sink(stored: StoredPoint) -> None:
            with interrupts.deferred():  # a signal waits until the point is written whole
                self.store.write_point(run_id, stored.row, stored.result)
                outcome.count(stored)
            self.reporter.point_finished(stored.point, stored.status, stored.error)

        return sink

    def _run(self, run_id: str, done: dict[str, dict[str, float | None]], outcome: RunOutcome) -> RunOutcome:
        todo = self._todo(expand(self.suite), done, outcome)
        scenario = scenario_for(self.suite, todo)
        context = ExecutionContext(
            run_id=run_id,
            settings=MeasureSettings.from_suite(self.suite, self._hardware(run_id)),
            sink=self._sink(run_id, outcome),
            log_dir=self.log_dir,
            clock=run_clock(self.store, run_id),
            reporter=self.reporter,
            done=done,
        )
        spec = self.suite.executor.model_copy(update={"kind": self.executor or self.suite.executor.kind})
        spec.wait = spec.wait and self.wait
        executor = create_executor(spec, context, self.suite.targets)
        self.reporter.run_started(run_id, self.suite.name, scenario.planned)
        try:
            results = scenario.run(executor.run_tasks)
        finally:
            executor.close()
            self.reporter.run_finished()
        outcome.skipped += context.reused
        self._record_searches(run_id, results)
        outcome.searches = results
        self.store.finish_run(run_id, "finished" if not outcome.failed else "finished_with_failures")
        return outcome
