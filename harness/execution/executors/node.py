"""One engine group run on a cluster node, exactly as locally: its own worker process, its own samplers, the node's
fingerprint on every point. What the Ray and Slurm executors send to a node (``NodeJob``: plain data) and what a
node sends back, in order: ``started`` (the node's machine), one ``point`` per measured point, then ``done``.

The run's clock crosses machines as its wall-clock origin: each node rebuilds its monotonic origin from it, so the
points of every node are on the run's one time axis (to the accuracy of the nodes' clock synchronisation).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.execution.context import ExecutionContext
from harness.execution.executors.base import stamp
from harness.execution.group import run_group
from harness.execution.measure import MeasureSettings
from harness.execution.session import EngineSession
from harness.execution.stored import StoredPoint, point_row
from harness.hardware.machine import MACHINE_KEY, machine
from harness.plan.points import Point
from harness.records import RunClock
from harness.results.store import PointResult
from harness.scenarios.base import GroupTask, TaskOutcome

Metrics = dict[str, float | None]
EventKind = Literal["started", "point", "done"]
Emit = Callable[[EventKind, Any], None]


class NodeJob(BaseModel):
    """Everything a node needs to run one group of a run; no store, no credentials."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task: GroupTask
    run_id: str
    settings: MeasureSettings
    log_dir: str
    wall_origin_ns: int  # the run clock's zero as wall-clock time
    done: dict[str, Metrics] = {}  # --resume: this group's points already stored ok

    @classmethod
    def build(cls, task: GroupTask, context: ExecutionContext) -> NodeJob:
        wall_origin = time.time_ns() - context.clock.now_ns()
        ids = {p.point_id for p in task.points}
        done = {k: v for k, v in context.done.items() if k in ids or task.search is not None}
        return cls(
            task=task,
            run_id=context.run_id,
            settings=context.settings,
            log_dir=str(context.log_dir.resolve()),  # a node's worker does not start in the driver's folder
            wall_origin_ns=wall_origin,
            done=done,
        )

    def context(self, sink: Callable[[StoredPoint], None]) -> ExecutionContext:
        origin = time.monotonic_ns() - (time.time_ns() - self.wall_origin_ns)
        log_dir = Path(self.log_dir)
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError:  # the driver's log folder does not exist on this node: the node's temp folder
            log_dir = Path(tempfile.gettempdir()) / "harness-logs"
        return ExecutionContext(
            run_id=self.run_id,
            settings=self.settings,
            sink=sink,
            log_dir=log_dir,
            clock=RunClock(origin_ns=origin),
            done=self.done,
        )


def run_on_node(job: NodeJob, emit: Emit) -> TaskOutcome:
    """Run the job's group here; every event goes to ``emit`` as it happens."""
    here = machine()
    emit("started", here)
    context = job.context(lambda stored: emit("point", stamp(stored, here)))
    session = EngineSession(job.task.engine, context)
    try:
        outcome = run_group(job.task, session, context)
    except BaseException:
        session.kill()
        raise
    session.close()
    emit("done", outcome)
    return outcome


def lost_point(point: Point, error: str, where: dict[str, Any] | None, at_ns: int) -> StoredPoint:
    """A point the node never sent back (the node or its task was lost): failed, with the cause and the node."""
    describe = {MACHINE_KEY: where} if where else None
    row = point_row(point, "failed", error, describe, at_ns, at_ns)
    return StoredPoint(point, "failed", error, row, PointResult(point.point_id))
