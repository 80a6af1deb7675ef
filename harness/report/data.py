"""What a report shows, gathered from the store into one JSON-able dict (the page draws every plot from it).

Numbers are rounded to 5 significant digits and timelines are decimated (min/max per bucket, so peaks survive) to a
sample budget shared by all points, which keeps a 1,000-point report small enough to open quickly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from harness import __version__
from harness.gate.config import direction
from harness.gate.inputs import GateInputError, load_gate_runs
from harness.metrics.catalogue import CATALOGUE
from harness.metrics.energy import phase_intervals
from harness.metrics.steady import steady_bounds
from harness.report.efficiency import COST_PAIRS, efficiency_facts
from harness.results.compare import compare_runs
from harness.results.store import AGGREGATE, Store, StoreError

# What each view offers (every name declared in the metric catalogue): latencies on the throughput-vs-latency Pareto
# view, fidelity against cost on the quantization view.
LATENCY_METRICS = tuple(f"{series}_{stat}" for stat in ("p50", "p99") for series in ("e2e_ms", "ttft_ms", "tpot_ms"))
THROUGHPUT_METRIC = "output_throughput_tok_s"
FIDELITY_METRICS = tuple(m.name for m in CATALOGUE if m.family == "fidelity" and m.better != "none")
COST_METRICS = ("output_throughput_tok_s", "energy_per_token_j")
SLO_METRICS = tuple(CATALOGUE.names("slo"))
# Preferred first entries of each family's metric menu; the rest follow alphabetically.
FAMILY_FIRST = {
    "energy": ("energy_per_token_j", "energy_net_per_token_j", "energy_j"),
    "memory": ("mem_peak_rss_bytes", "gpu_mem_peak_bytes"),
    "slo": SLO_METRICS,
}
# The points table: `harness show`'s columns, then the SLO figures.
TABLE_METRICS = [m.name for m in CATALOGUE.show_columns() + CATALOGUE.optional_columns()] + list(SLO_METRICS)
# Timeline fields drawn, by unit suffix: one panel each.
TIMELINE_PANELS = {"memory": "_bytes", "power": "_w", "utilisation": "_pct"}
ENGINE_FIELDS = ("adapter", "model", "dtype", "quantization", "device")
# Numbers kept per report for all timelines together (t + values); each point gets its share, 40..600 samples.
SAMPLE_BUDGET = 200_000


def rnd(value: Any) -> Any:
    """A float rounded to 4 significant digits (finer than any CI the harness reports); None for None/NaN/inf."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.4g}")
    return value


def pareto_front(
    xs: Sequence[float | None], ys: Sequence[float | None], x_better: str = "lower", y_better: str = "higher"
) -> list[int]:
    """Indices of the non-dominated points, ordered by x from best to worst.

    A point dominates another when it is at least as good on both axes and strictly better on one. Points with a
    missing coordinate take no part. Equal points are all kept.
    """
    sx = 1.0 if x_better == "lower" else -1.0
    sy = 1.0 if y_better == "lower" else -1.0
    # minimise (sx*x, sy*y)
    items = [
        (sx * x, sy * y, i)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    items.sort()
    front: list[int] = []
    best_y = math.inf
    last: tuple[float, float] | None = None
    for x, y, i in items:
        if y < best_y:
            front.append(i)
            best_y = y
            last = (x, y)
        elif last is not None and (x, y) == last:
            front.append(i)  # a duplicate of the front point just taken
    return front


def decimate(t: Sequence[float], v: Sequence[float | None], max_samples: int) -> tuple[list[float], list[Any]]:
    """At most ``max_samples`` samples: the series split into max_samples/2 buckets, each keeping its minimum and
    maximum (in time order), so short peaks stay visible. Missing readings (None) are dropped first."""
    pairs = [(a, b) for a, b in zip(t, v, strict=True) if b is not None]
    if len(pairs) <= max_samples:
        return [p[0] for p in pairs], [p[1] for p in pairs]
    buckets = max(1, max_samples // 2)
    size = len(pairs) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = pairs[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda k: chunk[k][1])
        hi = max(range(len(chunk)), key=lambda k: chunk[k][1])
        for k in sorted({lo, hi}):
            out.append(chunk[k])
    return [p[0] for p in out], [p[1] for p in out]


def metric_families(metrics: Sequence[str]) -> dict[str, list[str]]:
    """The run's metrics by what a section draws (catalogue families): energy (energy, power, CO2e; not the
    low-confidence flag), memory (every figure in bytes), SLO."""
    found = {
        "energy": [m for m in metrics if CATALOGUE.family(m) == "energy" and CATALOGUE.unit(m) != "flag"],
        "memory": [m for m in metrics if CATALOGUE.unit(m) == "bytes"],
        "slo": [m for m in metrics if CATALOGUE.family(m) == "slo"],
    }
    for family, names in found.items():
        first = [m for m in FAMILY_FIRST[family] if m in names]
        found[family] = first + sorted(m for m in names if m not in first)
    return found


def _engine_group(engine: dict[str, Any], varying: set[str]) -> str:
    """A short name for a point's engine/precision, naming only what differs between the run's points."""
    keys = [k for k in ("adapter", "model", "dtype", "quantization") if k in varying]
    return " · ".join(f"{engine.get(k)}" for k in keys) or f"{engine.get('adapter')} · {engine.get('model')}"


def _suite_facts(run: dict[str, Any]) -> dict[str, Any]:
    """The run's suite as far as a report needs it (samplers, SLO, gate); old or odd suite text degrades to {}."""
    from harness.plan.loader import parse_suite

    try:
        suite = parse_suite(run["suite_yaml"], f"suite of run {run['run_id']}")
    except Exception:  # a report must still open for a run whose suite no longer parses
        return {}
    return {
        "samplers": [s.name for s in suite.samplers],
        "slo": suite.slo.model_dump(),
        "gate": suite.gate,
        "fidelity": suite.fidelity,
        "repetitions": suite.repetitions,
    }


def _scale(field: str, value: float) -> float:
    return value / 2**20 if field.endswith("_bytes") else value  # memory drawn in MiB


def _timelines(store: Store, run_id: str, n_points: int) -> dict[str, Any]:
    samples = store.first_repetition_samples(run_id, TIMELINE_PANELS.values())
    requests = store.request_events(run_id, {pid: s["rep"] for pid, s in samples.items()})
    timelines: dict[str, Any] = {}
    for point_id, entry in samples.items():
        n_series = max(1, len(entry["series"]))
        per_series = int(min(600, max(40, SAMPLE_BUDGET / max(1, n_points) / (2 * n_series))))
        starts = [ts[0] for ts, _ in entry["series"].values() if ts]
        records = requests.get(point_id, [])
        t0 = min(starts + [r.t_sched_ns for r in records]) if starts or records else 0
        series = []
        for (sampler, field), (ts, vs) in sorted(entry["series"].items()):
            t_ms, values = decimate([(t - t0) / 1e6 for t in ts], vs, per_series)
            panel = next(name for name, sfx in TIMELINE_PANELS.items() if field.endswith(sfx))
            series.append(
                {
                    "sampler": sampler,
                    "field": field,
                    "panel": panel,
                    "t": [round(t) for t in t_ms],
                    "v": [rnd(_scale(field, v)) for v in values],
                }
            )
        phases = {
            name: [[round((a - t0) / 1e6, 2), round((b - t0) / 1e6, 2)] for a, b in spans]
            for name, spans in phase_intervals(records).items()
            if spans
        }
        bounds = steady_bounds(records) if records else None
        steady = [round((b - t0) / 1e6, 2) for b in bounds] if bounds else None
        timelines[point_id] = {"rep": entry["rep"], "series": series, "phases": phases, "steady": steady}
    return timelines


def _swept_axes(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The axes whose values differ between points, numeric ones sorted."""
    axis_values: dict[str, list[Any]] = {}
    for p in points:
        for name, value in (p["axes"] or {}).items():
            if value not in axis_values.setdefault(name, []):
                axis_values[name].append(value)
    axes = []
    for name, values in axis_values.items():
        if len(values) < 2:
            continue
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        axes.append({"name": name, "values": sorted(values) if numeric else values, "numeric": numeric})
    return axes


def _page_points(
    points: list[dict[str, Any]],
    metric_rows: dict[str, dict[str, tuple[Any, Any, Any]]],
    metric_names: list[str],
    reps: dict[str, dict[str, list[float]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The points as the page draws them, and the engines they refer to by index (1,000 points share a few)."""
    engines = [p["config"].get("engine", {}) for p in points]
    varying = {k for k in ENGINE_FIELDS if len({str(e.get(k)) for e in engines}) > 1}
    out_points = []
    engine_list: list[dict[str, Any]] = []
    for p, engine in zip(points, engines, strict=True):
        per = metric_rows.get(p["point_id"], {})
        short = {k: engine.get(k) for k in ENGINE_FIELDS}
        if short not in engine_list:
            engine_list.append(short)
        values = [tuple(rnd(x) for x in per.get(m, (None,) * 3)) for m in metric_names]
        out_points.append(
            {
                "id": p["point_id"],
                "idx": p["idx"],
                "label": p["label"],
                "status": p["status"],
                "error": p["error"],
                "axes": p["axes"] or {},
                "engine": engine_list.index(short),
                "group": _engine_group(engine, varying),
                "reps": max((len(v) for v in reps.get(p["point_id"], {}).values()), default=0),
                "energy_source": ((p.get("describe") or {}).get("energy") or {}).get("energy_source"),
                "v": [v for v, _, _ in values],
                # a CI equal to the value (one repetition, or a figure that never varies) is left out
                "lo": [None if lo == v == hi else lo for v, lo, hi in values],
                "hi": [None if lo == v == hi else hi for v, lo, hi in values],
            }
        )
    return out_points, engine_list


def collect_run(store: Store, run_id: str, with_timelines: bool = True) -> dict[str, Any]:
    """One run: its metadata, points (aggregate metrics with CI), Pareto fronts and timelines."""
    run = store.get_run(run_id)
    points = store.points(run_id)
    metric_rows: dict[str, dict[str, tuple[Any, Any, Any]]] = {}
    for row in store.summaries(run_id, repetition=AGGREGATE):
        metric_rows.setdefault(row["point_id"], {})[row["metric"]] = (row["value"], row["ci_low"], row["ci_high"])
    metric_names = sorted({m for per in metric_rows.values() for m, (v, _, _) in per.items() if v is not None})
    out_points, engine_list = _page_points(points, metric_rows, metric_names, store.repetition_values(run_id))
    medians = {pid: {m: v for m, (v, _, _) in per.items()} for pid, per in metric_rows.items()}
    suite = _suite_facts(run)
    counts: dict[str, int] = {}
    for p in points:
        counts[p["status"]] = counts.get(p["status"], 0) + 1
    facts = {
        k: run[k]
        for k in (
            "run_id",
            "suite_name",
            "status",
            "started_at",
            "finished_at",
            "harness_version",
            "fingerprint",
            "suite_yaml",
        )
    }
    return {
        **facts,
        "suite": suite,
        "tags": store.tags().get(run["run_id"], []),
        "counts": counts,
        "metrics": metric_names,
        "families": metric_families(metric_names),
        "directions": {m: direction(m) for m in metric_names},
        "axes": _swept_axes(points),
        "engines": engine_list,
        "points": out_points,
        "fronts": _fronts(out_points, metric_names),
        "efficiency": efficiency_facts(points, medians, suite.get("slo") or {}),
        "timelines": _timelines(store, run_id, len(points)) if with_timelines else {},
    }


def _fronts(points: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Pareto fronts as point indices (into ``points``): throughput vs each latency metric per engine group, and
    each cost metric vs each fidelity metric over all points."""
    col = {m: i for i, m in enumerate(metrics)}
    ok = [i for i, p in enumerate(points) if p["status"] == "ok"]

    def values(metric: str, idx: list[int]) -> list[float | None]:
        return [points[i]["v"][col[metric]] for i in idx]

    fronts: dict[str, Any] = {"latency": {}, "fidelity": {}, "cost": {}}
    if THROUGHPUT_METRIC in col:
        groups: dict[str, list[int]] = {}
        for i in ok:
            groups.setdefault(points[i]["group"], []).append(i)
        for lat in LATENCY_METRICS:
            if lat not in col:
                continue
            fronts["latency"][lat] = {
                g: [idx[k] for k in pareto_front(values(lat, idx), values(THROUGHPUT_METRIC, idx), "lower", "higher")]
                for g, idx in groups.items()
            }
    for fid in FIDELITY_METRICS:
        for cost in COST_METRICS:
            if fid in col and cost in col:
                front = pareto_front(values(fid, ok), values(cost, ok), direction(fid), direction(cost))
                fronts["fidelity"][f"{fid}|{cost}"] = [ok[k] for k in front]
    for lat, usd in COST_PAIRS:  # cost against latency, both lower-better
        if lat in col and usd in col:
            fronts["cost"][f"{lat}|{usd}"] = [
                ok[k] for k in pareto_front(values(lat, ok), values(usd, ok), "lower", "lower")
            ]
    return fronts


def _gate(base: tuple[Store, str], cand: tuple[Store, str]) -> dict[str, Any]:
    """The gate's verdicts for candidate vs baseline, configured by the candidate's suite as ``harness gate`` is."""
    try:
        report = load_gate_runs(base, cand).verdict()
    except (GateInputError, StoreError) as exc:
        return {"note": f"{exc}: the gate does not apply"}
    return {
        "summary": report.summary_line(),
        "failed": report.failed,
        "result": report.result,
        "environment_changes": report.environment_changes,
        "comparisons": [
            {
                **c.__dict__,
                "baseline": rnd(c.baseline),
                "candidate": rnd(c.candidate),
                "change_pct": rnd(c.change_pct),
                "p_value": rnd(c.p_value),
            }
            for c in report.comparisons
        ],
    }


def _comparison(opened: list[tuple[Store, str]]) -> dict[str, Any]:
    frame = compare_runs(opened, allow_different_hardware=True)  # shown side by side; the gate below refuses
    rows = [{k: rnd(v) if isinstance(v, float) else v for k, v in row.items()} for row in frame.to_dict("records")]
    gates = [{"baseline": opened[0][1], "candidate": cand[1], **_gate(opened[0], cand)} for cand in opened[1:]]
    return {"runs": [r for _, r in opened], "rows": rows, "gates": gates}


def collect(opened: list[tuple[Store, str]]) -> dict[str, Any]:
    """The whole report: every named run's summary, the last one in detail, and a comparison when there are two or
    more (the first is the reference, as in ``harness compare``)."""
    runs = [
        collect_run(store, run_id, with_timelines=(i == len(opened) - 1)) for i, (store, run_id) in enumerate(opened)
    ]
    names = sorted({m for run in runs for m in run["metrics"]} | set(TABLE_METRICS))
    return {
        "generated_at": time.time(),
        "harness_version": __version__,
        "runs": runs,
        "main": len(runs) - 1,
        "catalogue": CATALOGUE.info(names),
        "table_metrics": TABLE_METRICS,
        "comparison": _comparison(opened) if len(opened) > 1 else None,
    }
