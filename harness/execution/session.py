"""One engine group's worker process: started when its first point needs it, loaded once, replaced after a crash.

A point that fails keeps its one-line error and no half data; a worker that died is killed and the group's next
point starts a fresh one. A load that fails fails every point of the group with the same error, without loading
again; a combination the engine cannot run here (``Unsupported``) skips them with the reason.
"""

from __future__ import annotations

import time
from typing import Any

from harness.execution.context import ExecutionContext
from harness.execution.engine_process import EngineProcess, WorkerFailure, WorkerSkip, WorkerTimeout, worker_python
from harness.execution.envs import env_info
from harness.execution.measure import PointMeasurement, measure_point
from harness.execution.protocol import LoadReply, LoadRequest
from harness.execution.stored import StoredPoint, point_row
from harness.plan.points import EngineConfig, Point
from harness.plugins import adapter_ref
from harness.results.store import PointResult


class EngineSession:
    def __init__(self, engine: EngineConfig, context: ExecutionContext) -> None:
        self.engine = engine
        self.context = context
        self.worker: EngineProcess | None = None
        self.describe: dict[str, Any] = {}
        self.load_error: WorkerFailure | None = None

    def _start(self, point: Point) -> float:
        """Build the environment if needed, start the worker and load the engine (within ``load_timeout_s``); the
        point's deadline, which starts after the load."""
        ctx = self.context
        try:
            python = worker_python(self.engine, log=ctx.reporter.message)
        except WorkerFailure as exc:
            self.load_error = exc
            raise
        self.worker = EngineProcess(self.engine, ctx.log_dir / ctx.run_id / f"{point.group_id}.log", python=python)
        request = LoadRequest(
            engine=self.engine,
            adapter_ref=adapter_ref(self.engine.adapter),
            clock_origin_ns=ctx.clock.origin_ns,
            fidelity=ctx.settings.fidelity,
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
        self.describe = {**reply.describe, **env_info(python)}
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
