"""A measured point as the store takes it: its row and everything it produced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.plan.points import Point
from harness.results.store import AGGREGATE, PointResult


@dataclass
class StoredPoint:
    """A measured point as the store takes it: its row and everything it produced (empty unless ``ok``)."""

    point: Point
    status: str
    error: str | None
    row: dict[str, Any]
    result: PointResult

    def aggregates(self) -> dict[str, float | None]:
        return {metric: value for rep, metric, value, _, _ in self.result.summaries if rep == AGGREGATE}


def point_row(
    point: Point, status: str, error: str | None, describe: dict[str, Any] | None, started_ns: int, finished_ns: int
) -> dict[str, Any]:
    return {
        "point_id": point.point_id,
        "idx": point.index,
        "group_id": point.group_id,
        "label": point.label(),
        "axes": point.axes,
        "config": point.model_dump(mode="json"),
        "status": status,
        "error": error,
        "describe": describe,
        "started_ns": started_ns,
        "finished_ns": finished_ns,
    }
