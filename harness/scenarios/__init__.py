"""Scenarios: what a suite measures and in which order — a sweep, a rate sweep, an SLO search, an engine-argument
search — and the measurement windows that run inside an engine worker (an offline batch, a serving window)."""

from __future__ import annotations

from harness.plan.points import Point
from harness.plan.schema import ArgSearchSpec, Suite
from harness.scenarios.base import Scenario


def scenario_for(suite: Suite, points: list[Point]) -> Scenario:
    """The scenario a suite asks for: its ``search:`` section decides, a plain sweep otherwise."""
    if isinstance(suite.search, ArgSearchSpec):
        from harness.scenarios.arg_search import ArgSearchScenario

        return ArgSearchScenario(suite, points)
    from harness.scenarios.grid import GridScenario

    return GridScenario(suite, points)
