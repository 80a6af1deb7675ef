"""Running one ``GroupTask`` on its group's engine: its points in order, or a serving search from each."""

from __future__ import annotations

from harness.scenarios.base import GroupTask, Measure, SearchResult
from harness.scenarios.rate_search import serving_search


def run_task(task: GroupTask, measure: Measure) -> list[SearchResult]:
    if task.search is None:
        for point in task.points:
            measure(point)
        return []
    return [serving_search(template, task.search, task.slo, measure) for template in task.points]
