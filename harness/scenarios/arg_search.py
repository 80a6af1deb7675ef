"""Engine-argument search: the best setting for a goal within a bounded number of trials, every trial stored.

The throughput landscape over scheduler arguments is irregular (steps, plateaus, cliffs when memory runs out), so
the strategy is a plain seeded coordinate search over the discrete grid: start at a seeded random setting, try
every value of one axis with the others fixed, move to the best, go on axis by axis (in a seeded order) until a
full pass improves nothing or ``max_trials`` is spent. It never assumes smoothness, needs no tuning, and with a
fixed seed and deterministic measurements it visits the same trials every time.

A trial is an ordinary sweep point (same id as in a sweep of the same setting), measured as a one-point engine
group into one run, so ``show``, ``compare``, ``export`` and ``--resume`` treat trials like any other point.
Engine-agnostic: it only sets axis values and reads the trials' metrics.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.hints import did_you_mean
from harness.metrics.catalogue import CATALOGUE
from harness.plan.axes import AXIS_PATHS, ENGINE_ARG_PREFIX
from harness.plan.expand import expand
from harness.plan.points import Point, stable_hash
from harness.plan.schema import ArgSearchSpec, Suite, SuiteError
from harness.scenarios.base import GroupTask, Metrics, RunTasks, Scenario, SearchResult, SearchTrial

Setting = dict[str, Any]


def known_metrics() -> set[str]:
    """Metrics a goal may name: every one the catalogue declares."""
    return set(CATALOGUE.names())


# ---------------------------------------------------------------- suites for the grid and for one trial


def _with_values(suite: Suite, values: dict[str, Any]) -> Suite:
    data = suite.model_dump(exclude_unset=True)  # only what was written: defaults come back on validation
    data.pop("search", None)
    engine, workload = data["engines"][0], data.setdefault("workload", {})
    for axis, value in values.items():
        if axis.startswith(ENGINE_ARG_PREFIX):
            engine.setdefault("args", {})[axis.removeprefix(ENGINE_ARG_PREFIX)] = value
        else:
            section, name = AXIS_PATHS[axis]
            if section == "shared_prefix":  # a field of the workload's shared_prefix block
                workload.setdefault("shared_prefix", {})[name] = value
                continue
            (engine if section == "engine" else workload)[name] = value
    out = Suite.model_validate(data)
    out._source, out._lines = suite._source, suite._lines
    return out


def grid_suite(suite: Suite) -> Suite:
    """The suite with the search space as sweep axes: every setting the search may try."""
    assert isinstance(suite.search, ArgSearchSpec)
    return _with_values(suite, {axis: list(values) for axis, values in suite.search.space.items()})


def trial_point(suite: Suite, setting: Setting, trial: int) -> Point:
    (point,) = expand(_with_values(suite, setting))
    point.index = trial
    point.axes = dict(setting)
    return point


def check_search(suite: Suite) -> None:
    """What the schema cannot check: one engine entry, nothing swept outside the space, known metric names."""
    spec = suite.search
    assert isinstance(spec, ArgSearchSpec)
    where = suite.where("search")
    if len(suite.engines) != 1:
        raise SuiteError(
            f"{where}: search: a search tunes one engine entry; this suite has {len(suite.engines)} "
            "(run one suite per engine)"
        )
    base = _with_values(suite, {axis: values[0] for axis, values in spec.space.items()})
    points = expand(base)
    if len(points) != 1:
        swept = sorted({k for p in points for k in p.axes})
        raise SuiteError(
            f"{where}: search: the suite also sweeps {', '.join(swept)}; move those axes into "
            "search.space or give them one value"
        )
    known = known_metrics()
    for name in [spec.objective, *spec.constraints]:
        if name not in known:
            raise SuiteError(f"{where}: search: unknown metric {name!r}{did_you_mean(name, known)}")
    for name, bound in spec.constraints.items():
        if bound.max is None and bound.min is None:
            raise SuiteError(f"{where}: search.constraints.{name}: give max, min or both")


# ---------------------------------------------------------------- scoring and the strategy


def violation(metrics: Metrics | None, spec: ArgSearchSpec) -> float:
    """How far a trial is from meeting the constraints: Σ relative excess; 0 when met, inf when it failed."""
    if metrics is None:
        return math.inf
    total = 0.0
    for name, bound in spec.constraints.items():
        value = metrics.get(name)
        if value is None or value != value:
            return math.inf
        if bound.max is not None and value > bound.max:
            total += (value - bound.max) / max(abs(bound.max), 1e-12)
        if bound.min is not None and value < bound.min:
            total += (bound.min - value) / max(abs(bound.min), 1e-12)
    return total


def rank_key(metrics: Metrics | None, spec: ArgSearchSpec) -> tuple[float, float]:
    """Smaller is better: feasible trials by objective; infeasible ones after them, by how far they miss."""
    v = violation(metrics, spec)
    objective = None if metrics is None else metrics.get(spec.objective)
    if v > 0 or objective is None or objective != objective:
        return (1.0 + v if v < math.inf else math.inf, math.inf)
    return (0.0, -objective if spec.direction == "maximize" else objective)


@dataclass
class Trial:
    number: int
    setting: Setting
    metrics: Metrics | None
    point_id: str | None = None


@dataclass
class CoordinateResult:
    trials: list[Trial] = field(default_factory=list)
    best: Trial | None = None
    feasible: bool = False
    grid_size: int = 0


def coordinate_search(
    space: dict[str, list[Any]],
    evaluate: Callable[[Setting], Metrics | None],
    spec: ArgSearchSpec,
) -> CoordinateResult:
    """Seeded coordinate search over the grid ``space``, at most ``spec.max_trials`` evaluations."""
    rng = random.Random(spec.seed)
    axes = list(space)
    result = CoordinateResult(grid_size=math.prod(len(v) for v in space.values()))
    seen: dict[tuple[Any, ...], Trial] = {}

    def key(setting: Setting) -> tuple[Any, ...]:
        return tuple(setting[a] for a in axes)

    def trial(setting: Setting) -> Trial | None:
        k = key(setting)
        if k in seen:
            return seen[k]
        if len(result.trials) >= spec.max_trials:
            return None
        t = Trial(number=len(result.trials), setting=dict(setting), metrics=evaluate(dict(setting)))
        seen[k] = t
        result.trials.append(t)
        return t

    current = {a: rng.choice(space[a]) for a in axes}
    trial(current)
    improved = True
    while improved and len(result.trials) < spec.max_trials:
        improved = False
        for axis in rng.sample(axes, len(axes)):
            line = [trial({**current, axis: v}) for v in space[axis]]
            done = [t for t in line if t is not None]
            best_here = min(done, key=lambda t: rank_key(t.metrics, spec))
            if rank_key(best_here.metrics, spec) < rank_key(seen[key(current)].metrics, spec):
                current, improved = dict(best_here.setting), True
            if len(result.trials) >= spec.max_trials:
                break
    result.best = min(result.trials, key=lambda t: rank_key(t.metrics, spec))
    result.feasible = rank_key(result.best.metrics, spec)[0] == 0.0
    return result


# ---------------------------------------------------------------- the scenario


def _goal(spec: ArgSearchSpec) -> str:
    limits = ", ".join(
        f"{m} {'≤ ' + str(b.max) if b.max is not None else ''}"
        f"{' ' if b.max is not None and b.min is not None else ''}"
        f"{'≥ ' + str(b.min) if b.min is not None else ''}"
        for m, b in spec.constraints.items()
    )
    return f"{spec.direction} {spec.objective}" + (f" subject to {limits}" if limits else "")


class ArgSearchScenario(Scenario):
    """The engine-argument search: one trial at a time, each trial a one-point engine group."""

    @property
    def planned(self) -> int:
        assert isinstance(self.suite.search, ArgSearchSpec)
        return self.suite.search.max_trials

    def run(self, run_tasks: RunTasks) -> list[SearchResult]:
        suite, spec = self.suite, self.suite.search
        assert isinstance(spec, ArgSearchSpec)
        points: list[Point] = []

        def evaluate(setting: Setting) -> Metrics | None:
            point = trial_point(suite, setting, len(points))
            points.append(point)
            (outcome,) = run_tasks([GroupTask(engine=point.engine, points=[point], slo=suite.slo)])
            return outcome.measured[0].metrics

        found = coordinate_search(spec.space, evaluate, spec)
        result = SearchResult(
            search_id=stable_hash({"search": spec.model_dump()}),
            mode="args",
            goal=_goal(spec),
            grid_size=found.grid_size,
            feasible=found.feasible,
        )
        for t, point in zip(found.trials, points, strict=True):
            v = violation(t.metrics, spec)
            result.trials.append(
                SearchTrial(
                    number=t.number,
                    point_id=point.point_id,
                    label=point.label(),
                    setting=t.setting,
                    status="ok" if t.metrics is not None else "failed",
                    feasible=v == 0,
                    violation=None if v == math.inf else v,
                    objective=None if t.metrics is None else t.metrics.get(spec.objective),
                )
            )
        if found.best is not None:
            best = result.trials[found.best.number]
            result.best_point_id = best.point_id
            result.found = {"setting": best.setting, spec.objective: best.objective}
        return [result]
