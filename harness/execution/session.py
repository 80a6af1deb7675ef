"""One engine group's worker process: started (or taken warm from the previous group, ``harness.execution.warm``)
when its first point needs it, loaded once, replaced after a crash.

A point that fails keeps its one-line error and no half data; a worker that died is killed and the group's next
point starts a fresh one; a group with a failure never hands its worker to the next group. A load that fails fails
every point of the group with the same error, without loading again; a combination the engine cannot run here
(``Unsupported``) skips them with the reason.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.execution.context import ExecutionContext
from harness.execution.engine_process import EngineProcess, WorkerFailure, WorkerSkip, WorkerTimeout, worker_python
from harness.execution.envs import env_info
from harness.execution.measure import PointMeasurement, measure_point
from harness.execution.protocol import LoadReply, LoadRequest, UnloadRequest
from harness.execution.stored import StoredPoint, point_row
from harness.execution.warm import WarmWorkers, WorkerKey, worker_key
from harness.plan.points import EngineConfig, Point
from harness.plugins import adapter_ref
from harness.results.store import PointResult

UNLOAD_TIMEOUT_S = 60.0


class EngineSession:
    """``warm``: where a clean worker is handed over at ``release`` and taken from at the start (none: every group
    starts its own worker and closes it)."""

    def __init__(self, engine: EngineConfig, context: ExecutionContext, warm: WarmWorkers | None = None) -> None:
        self.engine = engine
        self.context = context
        self.warm = warm
        self.worker: EngineProcess | None = None
        self.key: WorkerKey | None = None
        self.describe: dict[str, Any] = {}
        self.load_error: WorkerFailure | None = None
        self.failed = False  # a point failed: the worker may be in any state, so it is not handed over

    def _process(self, python: str, log_path: Path) -> tuple[EngineProcess, bool]:
        """A worker for this group: the previous group's, warm, where the environment is the same; else a new one."""
        if self.warm is not None:
            self.key = worker_key(self.engine, python)
            worker = self.warm.take(self.key)
            if worker is not None:
                worker.follow_log(log_path)
                return worker, True
            self.warm.started += 1
        return EngineProcess(self.engine, log_path, python=python), False

    def _start(self, point: Point) -> float:
        """Build the environment if needed, start the worker and load the engine (within ``load_timeout_s``); the
        point's deadline, which starts after the load."""
        ctx = self.context
        try:
            python = worker_python(self.engine, log=ctx.reporter.message)
        except WorkerFailure as exc:
            self.load_error = exc
            raise
        log_path = ctx.log_dir / ctx.run_id / f"{point.group_id}.log"
        self.worker, reused = self._process(python, log_path)
        request = LoadRequest(
            engine=self.engine,
            adapter_ref=adapter_ref(self.engine.adapter),
            clock_origin_ns=ctx.clock.origin_ns,
            fidelity=ctx.settings.fidelity,
            log_path=str(log_path) if reused else None,
        )
        limit = ctx.settings.load_timeout_s  # the load has its own limit: it is not the first point's time
        try:
            reply = self.worker.request(request, timeout_s=limit, limit_s=limit, limit_name="load_timeout_s")
        except WorkerSkip as exc:
            self.load_error = exc
            raise
        except WorkerFailure as exc:
            what = "engine load" if isinstance(exc, WorkerTimeout) else "engine load failed:"
            self.load_error = WorkerFailure(f"{what} {exc}")
            raise self.load_error from None
        assert isinstance(reply, LoadReply)
        self.describe = {**reply.describe, **env_info(python), "worker": {"pid": reply.pid, "reused": reused}}
        return time.monotonic() + point.timeout_s

    def _measure(self, point: Point) -> PointMeasurement:
        deadline = time.monotonic() + point.timeout_s
        if self.load_error:
            raise self.load_error
        if self.worker is None:
            deadline = self._start(point)
        assert self.worker is not None
        ctx = self.context
        return measure_point(point, self.worker, ctx.clock, ctx.settings, ctx.samplers, self.describe, deadline)

    def measure(self, point: Point) -> StoredPoint:
        """Measure one point; a failure is the point's status and error, never an exception."""
        clock = self.context.clock
        started_ns = clock.now_ns()
        status, error = "ok", None
        try:
            measured = self._measure(point)
        except WorkerFailure as exc:
            status = "skipped" if isinstance(exc, WorkerSkip) else "failed"
            self.failed = self.failed or status == "failed" or self.load_error is not None
            error = str(exc)
            measured = PointMeasurement(PointResult(point.point_id))  # a failed point keeps its error, not half data
            if self.worker is not None and self.worker.proc.poll() is not None:
                self.kill()
        row = point_row(point, status, error, {**self.describe, **measured.facts}, started_ns, clock.now_ns())
        return StoredPoint(point, status, error, row, measured.result)

    def kill(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def release(self, keep: bool = True) -> None:
        """The group is done: a clean worker unloads its engine and goes to ``warm`` for the next group; any other
        (a failed point, a failed or skipped load, no keeper, an adapter that is not reusable) is closed, and so is
        every worker when ``keep`` is false (no group follows: unloading first would only cost time)."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        if not keep or self.warm is None or self.key is None or self.failed or worker.proc.poll() is not None:
            worker.close()
            return
        try:
            worker.request(UnloadRequest(), timeout_s=UNLOAD_TIMEOUT_S, limit_s=UNLOAD_TIMEOUT_S, limit_name="unload")
        except WorkerFailure:
            worker.kill()  # it could not free the engine: the next group starts a fresh one
            return
        self.warm.give(self.key, worker)
