"""Running one ``GroupTask`` on one engine session: each point it measures is stored as soon as it is measured."""

from __future__ import annotations

from harness.execution.context import ExecutionContext
from harness.execution.session import EngineSession
from harness.plan.points import Point
from harness.scenarios.base import GroupTask, Measured, TaskOutcome
from harness.scenarios.tasks import run_task


def run_group(task: GroupTask, session: EngineSession, context: ExecutionContext) -> TaskOutcome:
    outcome = TaskOutcome()

    def measure(point: Point) -> Measured:
        if point.point_id in context.done:  # --resume: stored by an earlier session of this run
            context.reused += 1
            measured = Measured(point, "ok", context.done[point.point_id], reused=True)
        else:
            context.reporter.point_started(point)
            stored = session.measure(point)
            context.sink(stored)
            measured = Measured(
                point, stored.status, stored.aggregates() if stored.status == "ok" else None, stored.error
            )
        outcome.measured.append(measured)
        return measured

    outcome.searches = run_task(task, measure)
    return outcome
