"""What one point produced, as the rows ``Store.write_point`` writes in one transaction."""

from __future__ import annotations

from typing import Any

from harness.records import RequestRecord, Timeline
from harness.results.schema import request_table


class PointResult:
    """Everything one point produced, handed to ``Store.write_point`` as one unit."""

    def __init__(self, point_id: str) -> None:
        self.point_id = point_id
        self.requests: list[tuple[int, RequestRecord]] = []
        self.timelines: list[tuple[int, Timeline]] = []
        self.summaries: list[tuple[int, str, float | None, float | None, float | None]] = []

    def request_rows(self, run_id: str) -> list[dict[str, Any]]:
        stored = {c.name for c in request_table.columns} - {"id", "run_id", "point_id", "repetition", "idx"}
        return [
            {
                "run_id": run_id,
                "point_id": self.point_id,
                "repetition": rep,
                "idx": r.index,
                **r.model_dump(include=stored),
            }
            for rep, r in self.requests
        ]

    def sample_rows(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {
                "run_id": run_id,
                "point_id": self.point_id,
                "repetition": rep,
                "sampler": tl.sampler,
                "field": field,
                "t_ns": t,
                "value": v,
            }
            for rep, tl in self.timelines
            for field, column in tl.values.items()
            for t, v in zip(tl.t_ns, column, strict=True)
        ]

    def summary_rows(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {
                "run_id": run_id,
                "point_id": self.point_id,
                "repetition": rep,
                "metric": m,
                "value": v,
                "ci_low": lo,
                "ci_high": hi,
            }
            for rep, m, v, lo, hi in self.summaries
        ]
