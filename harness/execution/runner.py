"""Runs a suite: engine groups in worker processes, warmup, repetitions, samplers, one atomic write per point."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness import __version__
from harness.execution.engine_process import EngineProcess, WorkerFailure, WorkerSkip, worker_python
from harness.execution.envs import env_info
from harness.measure.energy import carbon_figures, energy_figures, idle_power_w
from harness.measure.fingerprint import fingerprint
from harness.measure.samplers import sampler_class
from harness.measure.samplers.base import Sampler
from harness.metrics.stats import aggregate_repetitions
from harness.metrics.window import WindowSLO, window_metrics
from harness.plan.expand import expand, suite_hash
from harness.plan.points import Point
from harness.plan.schema import ServingSearchSpec, Suite
from harness.plugins import adapter_ref
from harness.records import RequestRecord, RunClock, Timeline
from harness.results.store import AGGREGATE, PointResult, Store


@dataclass
class RunOutcome:
    run_id: str
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unsupported: int = 0
    interrupted: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)


class Interrupted(Exception):
    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


def timeline_figures(timelines: list[Timeline]) -> dict[str, float | None]:
    """Per-repetition figures derived from sampler timelines (peaks and means), keyed with units."""
    figures: dict[str, float | None] = {}
    for tl in timelines:
        if tl.sampler == "psutil":
            rss = [v for v in tl.values.get("rss_bytes", []) if v is not None]
            cpu = [v for v in tl.values.get("cpu_pct", []) if v is not None]
            figures["mem_peak_rss_bytes"] = max(rss) if rss else None
            figures["cpu_util_mean_pct"] = sum(cpu) / len(cpu) if cpu else None
    return figures


class Runner:
    def __init__(self, suite: Suite, suite_text: str, store: Store, console: Console | None = None,
                 log_dir: Path | None = None, progress: bool = True) -> None:
        self.suite = suite
        self.suite_text = suite_text
        self.store = store
        self.console = console or Console(stderr=True)
        self.log_dir = log_dir or Path("results/logs")
        self.show_progress = progress
        self.slo = WindowSLO(**suite.slo.model_dump())
        self._sampler_warned: set[str] = set()
        self.clock: RunClock | None = None  # one clock per run, shared by every batch of points (search trials)
        self.searches: list[dict[str, Any]] = []

    # ------------------------------------------------------------ samplers

    def _samplers(self, clock: RunClock, pid: int, point: Point, only: tuple[str, ...] | None = None) -> list[Sampler]:
        samplers = []
        for spec in self.suite.samplers:
            if only is not None and spec.name not in only:
                continue
            cls = sampler_class(spec.name)
            ok, why = cls.available()
            if not ok:
                if spec.name not in self._sampler_warned:
                    self._sampler_warned.add(spec.name)
                    self.console.print(f"[yellow]sampler {spec.name} disabled: {why}[/]")
                continue
            extra: dict[str, Any] = {}
            if spec.name == "nvml":
                extra["visible_gpus"] = point.engine.visible_gpus
            elif spec.name == "codecarbon":
                extra["country_iso_code"] = self.suite.country_iso_code
            samplers.append(cls(clock, interval_ms=spec.interval_ms, target_pid=pid, **{**extra, **spec.options}))
        return samplers

    # ------------------------------------------------------------ one point

    def _run_point(self, point: Point, worker: EngineProcess, clock: RunClock, deadline: float,
                   result: PointResult, describe: dict[str, Any] | None = None) -> dict[str, Any]:
        """Warmup then repetitions; fills ``result``; returns per-point facts for the store."""
        workload = point.workload.model_dump()
        idle_w = self._idle_power(clock, worker, point)
        energy_info: dict[str, Any] = {}
        for _ in range(point.warmup):
            worker.request({"op": "batch", "workload": workload, "warmup": True, "repetition": -1},
                           timeout_s=deadline - time.monotonic())
        per_rep: list[dict[str, float | None]] = []
        for rep in range(point.repetitions):
            samplers = self._samplers(clock, worker.pid, point)
            for s in samplers:
                s.start()
            try:
                reply = worker.request({"op": "batch", "workload": workload, "warmup": False, "repetition": rep},
                                       timeout_s=deadline - time.monotonic())
            finally:
                timelines = [s.stop() for s in samplers]
            records = [RequestRecord.model_validate(r) for r in reply["records"]]
            result.requests += [(rep, r) for r in records]
            result.timelines += [(rep, tl) for tl in timelines]
            figures: dict[str, float | None] = dict(
                window_metrics(records, self.slo, offline_batches=point.workload.kind != "serving"))
            figures.update(timeline_figures(timelines))
            figures.update(reply.get("memory", {}))
            figures.update(reply.get("figures", {}))  # serving: offered rate, server-side metric deltas
            if (describe or {}).get("weights_bytes"):
                figures["weights_bytes"] = float(describe["weights_bytes"])  # type: ignore[index]
            figures.update((describe or {}).get("fidelity", {}))
            energy, energy_info = energy_figures(timelines, records, idle_w)
            carbon, carbon_info = carbon_figures(timelines)
            figures.update(energy)
            figures.update(carbon)
            energy_info.update(carbon_info)
            per_rep.append(figures)
            result.summaries += [(rep, k, v, None, None) for k, v in figures.items()]
        for metric, (median, low, high) in aggregate_repetitions(per_rep, seed=0).items():
            result.summaries.append((AGGREGATE, metric, median, low, high))
        sampler_notes = {tl.sampler: {"missing": tl.missing, "error": tl.error}
                         for _, tl in result.timelines if tl.missing or tl.error}
        return {"samplers": sampler_notes, "energy": energy_info, "idle_power_w": idle_w}

    def _idle_power(self, clock: RunClock, worker: EngineProcess, point: Point) -> dict[str, float]:
        """Idle power of the energy sources, with the model loaded and nothing running, for net energy."""
        if self.suite.idle_s <= 0:
            return {}
        samplers = self._samplers(clock, worker.pid, point, only=("nvml", "rapl"))
        if not samplers:
            return {}
        for s in samplers:
            s.start()
        time.sleep(self.suite.idle_s)
        return idle_power_w([s.stop() for s in samplers])

    def _point_row(self, point: Point, status: str, error: str | None, describe: dict[str, Any] | None,
                   started_ns: int, finished_ns: int) -> dict[str, Any]:
        return {
            "point_id": point.point_id, "idx": point.index, "group_id": point.group_id, "label": point.label(),
            "axes": point.axes, "config": point.model_dump(mode="json"), "status": status, "error": error,
            "describe": describe, "started_ns": started_ns, "finished_ns": finished_ns,
        }

    # ------------------------------------------------------------ serving searches

    def _store_point(self, run_id: str, point: Point, status: str, error: str | None, row: dict[str, Any],
                     result: PointResult, outcome: RunOutcome,
                     on_point: Callable[[Point, str, str], None] | None) -> None:
        """One atomic write per point, then the tally the CLI reports and its exit code follows."""
        self.store.write_point(run_id, row, result)
        if status == "ok":
            outcome.ok += 1
        elif status == "skipped":
            outcome.unsupported += 1
        else:
            outcome.failed += 1
            outcome.failures.append((point.label(), error or ""))
        if on_point:
            on_point(point, status, error or "")

    def _search(self, template: Point, worker: EngineProcess, clock: RunClock, run_id: str,
                describe: dict[str, Any] | None, outcome: RunOutcome,
                on_point: Callable[[Point, str, str], None] | None) -> None:
        """A rate sweep or SLO search (scenarios.rate_search): each trial is measured and stored as its own point."""
        from harness.plan.points import stable_hash
        from harness.scenarios.rate_search import rate_sweep, slo_search

        spec = self.suite.search
        assert spec is not None
        count = itertools.count()

        def trial(label: str, arrival: str, rate: float | None, concurrency: int | None) -> dict[str, float | None]:
            workload = template.workload.model_copy(update={"arrival": arrival, "rate": rate,
                                                            "concurrency": concurrency})
            k = next(count)
            point = template.model_copy(update={
                "workload": workload, "index": template.index * 1000 + k,
                "axes": {**template.axes, "search": spec.mode, "trial": k, "rate": rate, "concurrency": concurrency},
                "point_id": stable_hash({"template": template.point_id, "search": spec.model_dump(), "trial": k,
                                         "workload": workload.model_dump()}),
            })
            result = PointResult(point.point_id)
            started = clock.now_ns()
            status, error, extra = "ok", None, {}
            try:
                extra = self._run_point(point, worker, clock, time.monotonic() + point.timeout_s, result, describe)
            except WorkerFailure as exc:
                status, error, result = "failed", str(exc), PointResult(point.point_id)
            row = self._point_row(point, status, error, {**(describe or {}), **extra}, started, clock.now_ns())
            self._store_point(run_id, point, status, error, row, result, outcome, on_point)
            return {m: v[0] for m, v in ((s[1], s[2:]) for s in result.summaries if s[0] == AGGREGATE)}

        arrival = template.workload.arrival if template.workload.arrival != "concurrency" else "constant"
        found = (slo_search(spec, arrival, self.slo, trial) if spec.mode == "slo"
                 else rate_sweep(spec, arrival, trial))
        what = "largest rate meeting the SLO" if spec.mode == "slo" else "largest unsaturated rate"
        rate = f"{found.rate_req_s:.4g} req/s" if found.rate_req_s is not None else "none"
        self.console.print(f"{template.label() or 'search'}: {what}: {rate} ({found.note})", highlight=False)
        self.searches.append({"point": template.point_id, "mode": spec.mode, "rate_req_s": found.rate_req_s,
                              "note": found.note, "trials": found.trials})

    # ------------------------------------------------------------ the sweep

    def open_run(self, resume_run: str | None = None) -> tuple[str, set[str]]:
        """A new run in the store (or the one to resume) and the ids of its points already stored as ok."""
        if resume_run:
            run_id = self.store.get_run(resume_run)["run_id"]
            return run_id, self.store.completed_points(run_id)
        run_id = self.store.create_run(self.suite.name, suite_hash(self.suite), self.suite_text, fingerprint(),
                                       __version__)
        return run_id, set()

    def finish(self, outcome: RunOutcome) -> None:
        self.store.finish_run(outcome.run_id, "finished" if not outcome.failed else "finished_with_failures")

    def run(self, resume_run: str | None = None,
            on_point: Callable[[Point, str, str], None] | None = None) -> RunOutcome:
        points = expand(self.suite)
        run_id, done = self.open_run(resume_run)
        outcome = RunOutcome(run_id=run_id)
        todo = [p for p in points if p.point_id not in done]
        outcome.skipped = len(points) - len(todo)
        if outcome.skipped:
            self.console.print(f"resuming run {run_id}: {outcome.skipped} of {len(points)} points already stored")
        self.run_points(todo, outcome, on_point)
        self.finish(outcome)
        return outcome

    def run_points(self, todo: list[Point], outcome: RunOutcome,
                   on_point: Callable[[Point, str, str], None] | None = None, title: str | None = None) -> None:
        """Run ``todo`` into ``outcome.run_id``, one engine worker per group; counts go into ``outcome``.

        Raises ``Interrupted`` (after marking the run interrupted) on Ctrl-C.
        """
        run_id = outcome.run_id
        if self.clock is None:
            self.clock = RunClock()
        clock = self.clock
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                            TextColumn("{task.fields[current]}"), console=self.console,
                            disable=not self.show_progress)
        worker: EngineProcess | None = None
        try:
            with progress:
                task = progress.add_task(title or self.suite.name, total=len(todo), current="")
                for group_id, group in itertools.groupby(todo, key=lambda p: p.group_id):
                    describe: dict[str, Any] | None = None
                    load_error: WorkerFailure | None = None
                    for point in group:
                        progress.update(task, current=point.label())
                        started_ns = clock.now_ns()
                        deadline = time.monotonic() + point.timeout_s
                        result = PointResult(point.point_id)
                        status, error, extra = "ok", None, {}
                        try:
                            if load_error:
                                raise load_error
                            if worker is None:
                                try:
                                    python = worker_python(point.engine, log=self.console.print)
                                except WorkerFailure as exc:
                                    load_error = exc
                                    raise
                                deadline = time.monotonic() + point.timeout_s  # a first env build is not the point's
                                worker = EngineProcess(point.engine, self.log_dir / run_id / f"{group_id}.log",
                                                       python=python)
                                try:
                                    describe = worker.request(
                                        {"op": "load", "engine": point.engine.model_dump(),
                                         "adapter_ref": adapter_ref(point.engine.adapter),
                                         "clock_origin_ns": clock.origin_ns, "fidelity": self.suite.fidelity},
                                        timeout_s=deadline - time.monotonic(),
                                    )["describe"]
                                    describe = {**describe, **env_info(python)}
                                except WorkerSkip as exc:
                                    load_error = exc
                                    raise
                                except WorkerFailure as exc:
                                    load_error = WorkerFailure(f"engine load failed: {exc}")
                                    raise load_error from None
                            if isinstance(self.suite.search, ServingSearchSpec) and point.workload.kind == "serving":
                                self._search(point, worker, clock, run_id, describe, outcome, on_point)
                                progress.advance(task)
                                continue
                            extra = self._run_point(point, worker, clock, deadline, result, describe)
                        except WorkerFailure as exc:
                            status = "skipped" if isinstance(exc, WorkerSkip) else "failed"
                            error = str(exc)
                            result = PointResult(point.point_id)  # a failed point keeps its error, not half data
                            if worker is not None and worker.proc.poll() is not None:
                                worker.kill()
                                worker = None
                        row = self._point_row(point, status, error, {**(describe or {}), **extra}, started_ns,
                                              clock.now_ns())
                        self._store_point(run_id, point, status, error, row, result, outcome, on_point)
                        progress.advance(task)
                    if worker is not None:
                        worker.close()
                        worker = None
        except KeyboardInterrupt:
            if worker is not None:
                worker.kill()
            self.store.finish_run(run_id, "interrupted")
            outcome.interrupted = True
            raise Interrupted(outcome) from None
