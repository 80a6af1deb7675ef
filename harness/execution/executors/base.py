"""The executor interface: where engine groups run. ``local`` runs them one after another on this machine; ``ray``
and ``slurm`` place each group on a cluster node that has its hardware target.

An executor receives ``GroupTask`` s (one engine group each: a model loaded once, its points or its search) and
returns each task's ``TaskOutcome``; every measured point reaches ``context.sink`` on the driver, which writes it,
stamped with the machine that measured it (``describe.machine``, ``harness.hardware.machine``). Adding an executor is
one module under ``harness/execution/executors/`` plus one line in ``EXECUTORS`` (or an entry point in the
``harness.executors`` group).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from harness.execution.context import ExecutionContext
from harness.execution.stored import StoredPoint
from harness.hardware.machine import MACHINE_KEY, machine
from harness.plan.placement import ExecutorSpec, HardwareTarget
from harness.scenarios.base import GroupTask, TaskOutcome


class PlacementError(Exception):
    """A group no node of the cluster can take, or a cluster that cannot be reached; one line with the reason."""


def stamp(stored: StoredPoint, fingerprint: dict[str, Any] | None = None) -> StoredPoint:
    """The point with the machine that measured it in ``describe.machine`` (this process's machine by default)."""
    describe = dict(stored.row.get("describe") or {})
    describe[MACHINE_KEY] = fingerprint or machine()
    stored.row = {**stored.row, "describe": describe}
    return stored


def stamping(sink: Callable[[StoredPoint], None]) -> Callable[[StoredPoint], None]:
    return lambda stored: sink(stamp(stored))


class Executor(ABC):
    name: ClassVar[str]

    def __init__(
        self,
        context: ExecutionContext,
        spec: ExecutorSpec | None = None,
        targets: dict[str, HardwareTarget] | None = None,
    ) -> None:
        self.context = context
        self.spec = spec or ExecutorSpec(kind=self.name)  # type: ignore[arg-type]
        self.targets = targets or {}

    def target(self, task: GroupTask) -> HardwareTarget:
        """The hardware the task's group asks for (nothing in particular when its engine names no target)."""
        name = task.engine.hardware
        return self.targets[name] if name else HardwareTarget()

    def check(self, tasks: Sequence[GroupTask]) -> list[str]:
        """Why each group that cannot be placed cannot (``harness validate --executor``); empty when all can."""
        return []

    @abstractmethod
    def run_tasks(self, tasks: Sequence[GroupTask]) -> list[TaskOutcome]:
        """Run every task; their points are stored through ``context.sink`` as they are measured."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the executor holds (cluster connections)."""
