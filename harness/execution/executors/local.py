"""Engine groups on this machine, one after another; consecutive groups that share an environment share a warm
worker process (``harness.execution.warm``), any other group gets its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from harness.execution.executors.base import Executor, stamping
from harness.execution.group import run_group
from harness.execution.session import EngineSession
from harness.execution.warm import WarmWorkers
from harness.scenarios.base import GroupTask, TaskOutcome


class LocalExecutor(Executor):
    name: ClassVar[str] = "local"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.sink = stamping(self.context.sink)  # every point keeps the machine that measured it

    def run_tasks(self, tasks: Sequence[GroupTask]) -> list[TaskOutcome]:
        outcomes = []
        warm = WarmWorkers()
        try:
            for n, task in enumerate(tasks, start=1):
                session = EngineSession(task.engine, self.context, warm)
                try:
                    outcomes.append(run_group(task, session, self.context))
                except BaseException:  # Ctrl-C or a bug: the worker (and any server it launched) goes now
                    session.kill()
                    raise
                session.release(keep=n < len(tasks))
        except BaseException:
            warm.kill()
            raise
        warm.close()
        return outcomes
