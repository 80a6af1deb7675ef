"""The executor interface: where engine groups run. ``local`` runs them one after another on this machine.

An executor receives ``GroupTask`` s (one engine group each: a model loaded once, its points or its search) and
returns each task's ``TaskOutcome``; every measured point reaches ``context.sink`` on the driver, which writes it.
Adding an executor is one module under ``harness/execution/executors/`` plus one line in ``EXECUTORS`` (or an entry
point in the ``harness.executors`` group).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from harness.execution.context import ExecutionContext
from harness.scenarios.base import GroupTask, TaskOutcome


class Executor(ABC):
    name: ClassVar[str]

    def __init__(self, context: ExecutionContext) -> None:
        self.context = context

    @abstractmethod
    def run_tasks(self, tasks: Sequence[GroupTask]) -> list[TaskOutcome]:
        """Run every task; their points are stored through ``context.sink`` as they are measured."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the executor holds (cluster connections)."""
