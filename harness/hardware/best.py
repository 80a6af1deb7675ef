"""The cheapest point that meets the suite's SLO, per model (``harness show --best`` and the report).

A point meets the SLO as the SLO search's trials do (``harness.metrics.serving.meets_p99_slo``: p99 TTFT and
TPOT within their limits and no failed request), plus p99 E2E when the suite limits it. Among those, the
cheapest is the lowest USD per million output tokens at goodput (only tokens of requests that met the SLO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.metrics.serving import meets_p99_slo
from harness.metrics.window import WindowSLO

COST_ORDER = ("usd_per_mtok_goodput", "usd_per_mtok_output")


@dataclass
class Best:
    """One model's answer: the chosen point (None when none qualifies), the metric it was ranked by, why."""

    model: str
    point: dict[str, Any] | None
    metric: str | None
    candidates: int
    note: str


def meets_slo(figures: dict[str, Any], slo: WindowSLO) -> bool:
    if not meets_p99_slo(figures, slo):
        return False
    e2e = figures.get("e2e_ms_p99")
    return not (slo.e2e_ms is not None and (e2e is None or e2e > slo.e2e_ms))


def _known(value: Any) -> bool:
    return value is not None and value == value  # not None, not NaN


def cheapest_per_model(points: list[dict[str, Any]], slo: WindowSLO) -> list[Best]:
    """``points``: one dict per point with ``model``, ``status`` and its median metrics. One ``Best`` per model,
    in the order models first appear."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_model.setdefault(str(p.get("model")), []).append(p)
    limited = any(v is not None for v in (slo.ttft_ms, slo.tpot_ms, slo.e2e_ms))
    answers = []
    for model, rows in by_model.items():
        ok = [p for p in rows if p.get("status") == "ok"]
        good = [p for p in ok if meets_slo(p, slo)] if limited else ok
        metric = next((m for m in COST_ORDER if any(_known(p.get(m)) for p in good)), None)
        if not good:
            note = "no point met the SLO" if ok else "no point succeeded"
            answers.append(Best(model, None, None, 0, note))
            continue
        note = f"{len(good)} of {len(rows)} points met the SLO" if limited else "the suite sets no SLO: all points"
        if metric is None:
            answers.append(Best(model, None, None, len(good), f"{note}; no cost figures (set cost.usd_per_hour)"))
            continue
        best = min((p for p in good if _known(p.get(metric))), key=lambda p: float(p[metric]))
        answers.append(Best(model, best, metric, len(good), note))
    return answers
