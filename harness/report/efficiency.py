"""What the report's efficiency and cost sections need beyond each point's metrics: where the peaks and prices came
from, why figures are missing, the cost-against-latency Pareto fronts and the cheapest point per model that meets
the suite's SLO. The roofline itself is drawn from the points' metrics (intensity, achieved FLOP/s, peaks)."""

from __future__ import annotations

from typing import Any

from harness.hardware.best import cheapest_per_model
from harness.metrics.window import WindowSLO

COST_METRICS = ("usd_per_mtok_output", "usd_per_mtok_goodput")
COST_LATENCIES = ("e2e_ms_p50", "ttft_ms_p99", "tpot_ms_p99", "e2e_ms_p99")
# the cost-against-latency views (both lower-better): each pair gets a Pareto front in data._fronts
COST_PAIRS = tuple((lat, cost) for lat in COST_LATENCIES for cost in COST_METRICS)


def _sources(stored: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Distinct (peaks, price) sources with their point count, and distinct missing-figure reasons likewise."""
    sources: dict[tuple[Any, ...], int] = {}
    reasons: dict[str, int] = {}
    for p in stored:
        info = (p.get("describe") or {}).get("efficiency")
        if not info or p.get("status") != "ok":
            continue
        peaks, price = info.get("peaks") or {}, info.get("price") or {}
        key = (
            info.get("peak_source"),
            peaks.get("device_name"),
            peaks.get("compute_dtype"),
            (peaks.get("spec") or {}).get("source"),
            price.get("usd_per_device_hour"),
            price.get("source"),
        )
        sources[key] = sources.get(key, 0) + 1
        for why in info.get("missing") or []:
            reasons[why] = reasons.get(why, 0) + 1
    names = ("peak_source", "device", "compute_dtype", "spec_source", "usd_per_device_hour", "price_source")
    return (
        [{**dict(zip(names, key, strict=True)), "points": n} for key, n in sources.items()],
        [{"reason": why, "points": n} for why, n in reasons.items()],
    )


def efficiency_facts(
    stored: list[dict[str, Any]], medians: dict[str, dict[str, float | None]], slo: dict[str, Any]
) -> dict[str, Any]:
    """``stored``: the store's point rows (with ``describe``), in page order; ``medians``: each point's median
    metrics by point id; ``slo``: the suite's SLO section."""
    sources, missing = _sources(stored)
    rows = [
        {**medians.get(p["point_id"], {}), "model": (p.get("config") or {}).get("engine", {}).get("model"),
         "status": p["status"], "index": i}
        for i, p in enumerate(stored)
    ]  # fmt: skip
    limits = WindowSLO(**{k: v for k, v in (slo or {}).items() if k in ("ttft_ms", "tpot_ms", "e2e_ms")})
    best = [
        {
            "model": b.model,
            "point": b.point["index"] if b.point else None,
            "metric": b.metric,
            "value": b.point.get(b.metric) if b.point and b.metric else None,
            "note": b.note,
        }
        for b in cheapest_per_model(rows, limits)
    ]
    return {"sources": sources, "missing": missing, "best": best, "has_cost": any(r.get(COST_METRICS[0]) for r in rows)}
