"""Suite → points: the matrix product of its axes (``zip`` groups vary together, ``exclude`` drops), stable ids."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

from harness.plan.axes import AXIS_PATHS, OFFLINE_AXES, PREFIX_AXES, SERVING_AXES
from harness.plan.fields import MAX_POINTS
from harness.plan.points import EngineConfig, Point, ServingWorkloadConfig, WorkloadConfig, stable_hash
from harness.plan.schema import EngineSpec, Suite, SuiteError, WorkloadSpec, listify


def _axes_of(engine: EngineSpec, workload: WorkloadSpec) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    shown = SERVING_AXES if workload.kind == "serving" else OFFLINE_AXES
    for name, (section, field) in AXIS_PATHS.items():
        if section == "workload" and name not in shown:
            continue
        if section == "shared_prefix":
            if workload.shared_prefix is not None:
                axes[name] = listify(getattr(workload.shared_prefix, field))
            continue
        value = getattr(engine if section == "engine" else workload, field)
        axes[name] = listify(value)
    for key, value in engine.args.items():
        axes[f"args.{key}"] = listify(value)
    return axes


def _workload_config(w: WorkloadSpec, values: dict[str, Any]) -> WorkloadConfig | ServingWorkloadConfig:
    """One combination's workload: every swept field a single value."""
    if w.kind != "serving":
        return WorkloadConfig(**{f: values[f] for f in OFFLINE_AXES}, seed=w.seed)
    return ServingWorkloadConfig(
        **{f: values[f] for f in SERVING_AXES},
        burst_size=w.burst_size,
        duration_s=w.duration_s,
        trace=w.trace,
        request_timeout_s=w.request_timeout_s,
        warm_connections=w.warm_connections,
        seed=w.seed,
        prompts=w.prompts,
        input_lengths=w.input_lengths,
        output_lengths=w.output_lengths,
        shared_prefix=_prefix(w, values),
        sessions=w.sessions,
    )


def _prefix(w: WorkloadSpec, values: dict[str, Any]) -> Any:
    """The point's shared-prefix shape: the suite's, with this combination's swept values."""
    if w.shared_prefix is None:
        return None
    fields = {AXIS_PATHS[a][1]: values[a] for a in PREFIX_AXES if a in values}
    return w.shared_prefix.model_copy(update=fields)


def _groups(axes: dict[str, list[Any]], zips: list[list[str]]) -> list[list[str]]:
    """Axes that vary together: each ``zip`` group, then every other axis alone."""
    groups: list[list[str]] = []
    zipped: set[str] = set()
    for group in zips:
        present = [a for a in group if a in axes]
        lengths = {len(axes[a]) for a in present}
        if len(lengths) > 1:
            sizes = ", ".join(f"{a}={len(axes[a])}" for a in present)
            raise SuiteError(f"zip group {group}: axes must have equal lengths ({sizes})")
        if present:
            groups.append(present)
            zipped.update(present)
    return groups + [[a] for a in axes if a not in zipped]


def combination_count(suite: Suite) -> int:
    """How many combinations the suite's axes make before ``exclude`` (what expanding it would iterate)."""
    total = 0
    for engine in suite.engines:
        axes = _axes_of(engine, suite.workload)
        total += math.prod(len(axes[g[0]]) for g in _groups(axes, suite.zip))
    return total


def check_size(suite: Suite) -> None:
    """``SuiteError`` for a sweep of more than ``MAX_POINTS`` combinations, before any is made."""
    count = combination_count(suite)
    if count > MAX_POINTS:
        raise SuiteError(
            f"{suite.where('engines')}: the sweep makes {count:,} points, more than {MAX_POINTS:,}: "
            "split it into several suites or tie axes together with `zip`"
        )


def _combinations(axes: dict[str, list[Any]], zips: list[list[str]]) -> Iterator[dict[str, Any]]:
    groups = _groups(axes, zips)
    per_group = [
        [dict(zip(g, values, strict=True)) for values in zip(*(axes[a] for a in g), strict=True)] for g in groups
    ]
    for combo in itertools.product(*per_group):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        yield merged


def _excluded(values: dict[str, Any], rules: list[dict[str, Any]]) -> bool:
    return any(all(values.get(k) == v for k, v in rule.items()) for rule in rules)


def expand(suite: Suite) -> list[Point]:
    """Every point of the sweep, in a stable order, grouped so that points sharing an engine config are adjacent.

    A sweep of more than ``MAX_POINTS`` combinations is refused before any is made (axes multiply quickly)."""
    check_size(suite)
    points: list[Point] = []
    seen: set[str] = set()
    for engine in suite.engines:
        axes = _axes_of(engine, suite.workload)
        swept = {name for name, values in axes.items() if len(values) > 1}
        for values in _combinations(axes, suite.zip):
            if _excluded(values, suite.exclude):
                continue
            engine_cfg = EngineConfig(
                **{f: values[f] for f, (s, _) in AXIS_PATHS.items() if s == "engine"},
                args={k[5:]: v for k, v in values.items() if k.startswith("args.")},
                python=engine.python,
                env=engine.env,
            )
            workload_cfg = _workload_config(suite.workload, values)
            identity = {
                "engine": engine_cfg.identity(),
                "workload": workload_cfg.identity(),
                "repetitions": suite.repetitions,
                "warmup": suite.warmup,
            }
            point_id = stable_hash(identity)
            if point_id in seen:
                continue
            seen.add(point_id)
            always = ("adapter", "model") if len(suite.engines) > 1 else ()
            shown = {k: v for k, v in values.items() if k in swept or k in always}
            points.append(
                Point(
                    point_id=point_id,
                    index=len(points),
                    engine=engine_cfg,
                    workload=workload_cfg,
                    repetitions=suite.repetitions,
                    warmup=suite.warmup,
                    timeout_s=suite.timeout_s,
                    axes=shown,
                )
            )
    # Stable grouping: keep first-appearance order of groups, and point order inside each group.
    order = {gid: i for i, gid in reversed(list(enumerate(p.group_id for p in points)))}
    points.sort(key=lambda p: (order[p.group_id], p.index))
    for i, p in enumerate(points):
        p.index = i
    return points


def suite_hash(suite: Suite) -> str:
    """What ``--resume`` finds a suite's runs by. Where it runs (``executor:``) is not part of it, so a run goes on
    under another executor; ``targets:`` only when declared, so hashes of suites without them stay as they were."""
    exclude: dict[str, Any] = {"executor": True}
    if not suite.targets:
        exclude["targets"] = True
    if all(e.hardware is None for e in suite.engines):
        exclude["engines"] = {"__all__": {"hardware"}}
    return stable_hash(suite.model_dump(mode="json", exclude=exclude))
