"""The plain sweep: every point of the suite's grid, engine group by engine group; with a serving search
(``search: {mode: rate_sweep | slo}``), a rate search from each point of the grid instead."""

from __future__ import annotations

from harness.plan.schema import ServingSearchSpec
from harness.scenarios.base import RunTasks, Scenario, SearchResult, group_tasks


class GridScenario(Scenario):
    @property
    def search(self) -> ServingSearchSpec | None:
        return self.suite.search if isinstance(self.suite.search, ServingSearchSpec) else None

    @property
    def planned(self) -> int:
        return sum(task.planned for task in group_tasks(self.points, self.suite, self.search))

    def run(self, run_tasks: RunTasks) -> list[SearchResult]:
        outcomes = run_tasks(group_tasks(self.points, self.suite, self.search))
        return [result for outcome in outcomes for result in outcome.searches]
