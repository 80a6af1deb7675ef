"""The scenario interface: what a suite measures, as work for engine groups, and the one result type of searches.

A *scenario* turns a suite into ``GroupTask`` s — one engine group each: a model loaded once, then its points — and
hands them to the execution layer (``run_tasks``), which measures every point on that group's engine and stores it.
A task runs its points in order (a sweep) or searches over trial points of its engine (rate sweep, SLO search); a
scenario may also create tasks one at a time from earlier results (the engine-argument search).

Scenarios never touch workers, samplers or the store: they see ``Measured`` results, so the same scenario runs on
any executor (local, or a cluster's). Every search answers with a ``SearchResult``, stored with its trial points
(``describe.search``) and shown by ``harness run`` and ``harness show``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.plan.points import EngineConfig, Point
from harness.plan.schema import ServingSearchSpec, SLOSpec, Suite

Metrics = dict[str, float | None]
SearchMode = Literal["rate_sweep", "slo", "args"]


@dataclass
class Measured:
    """What measuring one point gave a scenario: its status and, when it succeeded, the medians across repetitions.

    ``reused`` marks a point already stored by an earlier session of the same run (``--resume``)."""

    point: Point
    status: str
    metrics: Metrics | None = None
    error: str | None = None
    reused: bool = False


Measure = Callable[[Point], Measured]


class SearchTrial(BaseModel):
    number: int
    point_id: str
    label: str
    setting: dict[str, Any] = Field(default_factory=dict, description="what this trial set (rate, engine args…)")
    status: str = "ok"
    feasible: bool | None = None
    violation: float | None = None
    objective: float | None = None
    verdict: str | None = Field(default=None, description="what the search concluded from it, e.g. saturated")


class SearchResult(BaseModel):
    """The answer of one search: the best trial, what it found, and every trial (each a stored point)."""

    model_config = ConfigDict(extra="forbid")

    search_id: str
    mode: SearchMode
    label: str = ""
    goal: str = Field(default="", description="what was searched for, in words")
    found: dict[str, Any] = Field(default_factory=dict, description="e.g. {rate_req_s: 12.5} or the best setting")
    best_point_id: str | None = None
    feasible: bool = False
    note: str = ""
    grid_size: int | None = None
    trials: list[SearchTrial] = Field(default_factory=list)

    def summary(self) -> str:
        what = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.found.items())
        head = f"{self.mode} search{' ' + self.label if self.label else ''}: {self.goal}".rstrip(": ")
        size = f" of {self.grid_size} settings" if self.grid_size else ""
        answer = what if self.feasible and what else "nothing met the goal"
        return f"{head} — {answer} ({len(self.trials)} trials{size}{'; ' + self.note if self.note else ''})"

    def describe_entries(self) -> dict[str, dict[str, Any]]:
        """Per trial point, what its ``describe.search`` records: its place in the search and the search's answer."""
        answer = self.model_dump(exclude={"trials"})
        return {
            t.point_id: {
                "search_id": self.search_id,
                "mode": self.mode,
                "trial": t.number,
                "best": t.point_id == self.best_point_id,
                **t.model_dump(exclude={"number", "point_id"}),
                "result": answer,
            }
            for t in self.trials
        }

    @classmethod
    def from_stored(cls, points: list[dict[str, Any]]) -> list[SearchResult]:
        """The searches of a stored run, rebuilt from their trials' ``describe.search`` (first-trial order)."""
        found: dict[str, SearchResult] = {}
        for p in sorted(points, key=lambda p: p["idx"]):
            entry = (p.get("describe") or {}).get("search") or {}
            if "result" not in entry:
                continue
            result = found.setdefault(entry["search_id"], cls.model_validate(entry["result"]))
            fields = {k: v for k, v in entry.items() if k in SearchTrial.model_fields}
            result.trials.append(
                SearchTrial.model_validate(
                    {**fields, "number": entry["trial"], "point_id": p["point_id"], "status": p["status"]}
                )
            )
        for result in found.values():
            result.trials.sort(key=lambda t: t.number)
        return list(found.values())


class GroupTask(BaseModel):
    """Work for one engine group: its points in order, or (``search``) a serving search per template point."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineConfig
    points: list[Point]
    search: ServingSearchSpec | None = None
    slo: SLOSpec = Field(default_factory=SLOSpec)

    @property
    def group_id(self) -> str:
        return self.engine.group_id()

    @property
    def planned(self) -> int:
        """Points this task will measure at most (a search's trial budget)."""
        if self.search is None:
            return len(self.points)
        budget = self.search.max_trials if self.search.mode == "slo" else self.search.rates + 2
        return budget * len(self.points)


@dataclass
class TaskOutcome:
    measured: list[Measured] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)


RunTasks = Callable[[Sequence[GroupTask]], list[TaskOutcome]]


class Scenario(ABC):
    """Runs a suite's tasks through ``run_tasks`` (the executor) and returns the searches' answers."""

    def __init__(self, suite: Suite, points: list[Point]) -> None:
        self.suite = suite
        self.points = points

    @property
    @abstractmethod
    def planned(self) -> int:
        """How many points this scenario will measure at most (for progress)."""

    @abstractmethod
    def run(self, run_tasks: RunTasks) -> list[SearchResult]: ...


def group_tasks(points: Sequence[Point], suite: Suite, search: ServingSearchSpec | None = None) -> list[GroupTask]:
    """Consecutive points sharing an engine config become one task (``expand`` keeps a group's points adjacent)."""
    tasks: list[GroupTask] = []
    for point in points:
        if tasks and tasks[-1].group_id == point.group_id:
            tasks[-1].points.append(point)
        else:
            tasks.append(GroupTask(engine=point.engine, points=[point], search=search, slo=suite.slo))
    return tasks
