"""Executors: where a run's engine groups are measured."""

from __future__ import annotations

from harness.execution.context import ExecutionContext
from harness.execution.executors.base import Executor
from harness.plugins import Registry

EXECUTORS = Registry(
    "harness.executors",
    "executor",
    {
        "local": "harness.execution.executors.local:LocalExecutor",
    },
)


def create_executor(name: str, context: ExecutionContext) -> Executor:
    cls: type[Executor] = EXECUTORS.load(name)
    return cls(context)
