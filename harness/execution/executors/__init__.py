"""Executors: where a run's engine groups are measured (``executor:`` in the suite, ``harness run --executor``)."""

from __future__ import annotations

from harness.execution.context import ExecutionContext
from harness.execution.executors.base import Executor, PlacementError
from harness.plan.placement import ExecutorSpec, HardwareTarget
from harness.plan.points import Point
from harness.plan.schema import Suite
from harness.plugins import Registry

EXECUTORS = Registry(
    "harness.executors",
    "executor",
    {
        "local": "harness.execution.executors.local:LocalExecutor",
        "ray": "harness.execution.executors.ray:RayExecutor",
        "slurm": "harness.execution.executors.slurm:SlurmExecutor",
    },
)


def create_executor(
    spec: ExecutorSpec | str, context: ExecutionContext, targets: dict[str, HardwareTarget] | None = None
) -> Executor:
    spec = ExecutorSpec(kind=spec) if isinstance(spec, str) else spec  # type: ignore[arg-type]
    cls: type[Executor] = EXECUTORS.load(spec.kind)
    return cls(context, spec, targets)


def placement_problems(suite: Suite, points: list[Point], kind: str | None = None) -> list[str]:
    """Why groups of the suite cannot be placed by its executor (or ``kind``): one line each; empty when all can.
    Raises ``PlacementError`` when the cluster cannot be reached."""
    from harness.execution.measure import MeasureSettings
    from harness.scenarios.base import group_tasks

    spec = suite.executor if kind in (None, suite.executor.kind) else suite.executor.model_copy(update={"kind": kind})
    context = ExecutionContext(run_id="validate", settings=MeasureSettings(), sink=lambda _: None)
    executor = create_executor(spec, context, suite.targets)
    try:
        return executor.check(group_tasks(points, suite))
    finally:
        executor.close()


__all__ = ["EXECUTORS", "Executor", "PlacementError", "create_executor", "placement_problems"]
