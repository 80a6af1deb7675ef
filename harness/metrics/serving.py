"""Tests the serving searches apply to one trial: saturation (rate sweep) and the p99 SLO (SLO search)."""

from __future__ import annotations

from harness.metrics.window import WindowSLO


def is_saturated(offered_req_s: float, achieved_req_s: float | None, saturation_pct: float = 90.0) -> bool:
    """A rate is saturated when the achieved request rate is below ``saturation_pct`` % of the offered rate (no
    request served at all counts as saturated)."""
    return achieved_req_s is None or achieved_req_s < offered_req_s * saturation_pct / 100


def meets_p99_slo(figures: dict[str, float | None], slo: WindowSLO) -> bool:
    """The SLO search's test of one trial: p99 TTFT ≤ slo.ttft_ms and p99 TPOT ≤ slo.tpot_ms (limits left None are
    not checked), and no failed request (errors hide latency: a failed request would otherwise escape the p99).
    A trial without a TTFT distribution fails; a TPOT limit passes when no request had a TPOT (n_out < 2)."""
    if figures.get("error_count"):
        return False
    ttft = figures.get("ttft_ms_p99")
    if ttft is None:
        return False
    if slo.ttft_ms is not None and ttft > slo.ttft_ms:
        return False
    tpot = figures.get("tpot_ms_p99")
    return not (slo.tpot_ms is not None and tpot is not None and tpot > slo.tpot_ms)
