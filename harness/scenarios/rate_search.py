"""Searches over request rates for serving suites: a rate sweep and an SLO search. Every trial is a stored point.

Rate sweep: a synchronous trial (one user, closed loop) gives the lowest useful rate, a max-throughput trial
(``max_concurrency`` users) the highest; then ``rates`` open-loop rates evenly between them, lowest first. A rate is
*saturated* when the achieved request rate falls below ``saturation_pct`` % of the offered rate; the sweep stops at
the second saturated rate (past saturation, more load only measures a queue).

SLO search: the largest open-loop rate whose p99 TTFT and p99 TPOT meet the suite's ``slo`` (limits left unset are
not checked), by bisection between ``rate_min`` and ``rate_max`` (measured as above when not given), with at most
``max_trials`` trials in all and a stop when the bracket is narrower than ``tolerance_pct`` % of its top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.metrics.serving import is_saturated, meets_p99_slo
from harness.metrics.window import WindowSLO
from harness.plan.schema import ServingSearchSpec

# trial(label, arrival, rate, concurrency) -> the trial's figures (window_metrics of its measured repetitions)
Trial = Callable[[str, str, float | None, int | None], dict[str, float | None]]


@dataclass
class SearchResult:
    mode: str
    trials: list[dict] = field(default_factory=list)
    rate_req_s: float | None = None  # slo: the largest rate meeting the SLO; rate_sweep: the largest unsaturated
    note: str = ""


def _bounds(spec: ServingSearchSpec, arrival: str, trial: Trial, result: SearchResult) -> tuple[float | None, float | None]:
    lo, hi = spec.rate_min, spec.rate_max
    if lo is None:
        f = trial("synchronous", "concurrency", None, 1)
        lo = f.get("request_throughput_req_s")
        result.trials.append({"kind": "synchronous", "achieved": lo})
    if hi is None:
        f = trial("max-throughput", "concurrency", None, spec.max_concurrency)
        hi = f.get("request_throughput_req_s")
        result.trials.append({"kind": "max-throughput", "achieved": hi})
    return lo, hi


def rate_sweep(spec: ServingSearchSpec, arrival: str, trial: Trial) -> SearchResult:
    result = SearchResult("rate_sweep")
    lo, hi = _bounds(spec, arrival, trial, result)
    if not lo or not hi:
        result.note = "a bound trial served no request"
        return result
    rates = [lo + (hi - lo) * (k + 1) / (spec.rates + 1) for k in range(spec.rates)] if hi > lo else [lo]
    saturated_seen = 0
    for rate in rates:
        f = trial(f"rate {rate:.3g}", arrival, rate, None)
        achieved = f.get("request_throughput_req_s")
        sat = is_saturated(rate, achieved, spec.saturation_pct)
        result.trials.append({"kind": "rate", "offered": rate, "achieved": achieved, "saturated": sat})
        if sat:
            saturated_seen += 1
            if saturated_seen >= 2:
                result.note = f"stopped at {rate:.3g} req/s: saturated twice"
                break
        else:
            result.rate_req_s = rate
    return result


def slo_search(spec: ServingSearchSpec, arrival: str, slo: WindowSLO, trial: Trial) -> SearchResult:
    result = SearchResult("slo")
    if slo.ttft_ms is None and slo.tpot_ms is None:
        result.note = "the suite sets no ttft_ms/tpot_ms slo"
        return result
    budget = spec.max_trials
    lo, hi = _bounds(spec, arrival, trial, result)
    budget -= len(result.trials)
    if not lo or not hi:
        result.note = "a bound trial served no request"
        return result

    def meets(rate: float) -> bool:
        f = trial(f"slo trial {rate:.3g}", arrival, rate, None)
        ok = meets_p99_slo(f, slo)
        result.trials.append({"kind": "slo", "offered": rate, "meets": ok, "ttft_ms_p99": f.get("ttft_ms_p99"),
                              "tpot_ms_p99": f.get("tpot_ms_p99")})
        return ok

    if budget > 0:
        budget -= 1
        if meets(hi):
            result.rate_req_s = hi
            result.note = "the upper bound meets the SLO"
            return result
    if budget > 0:
        budget -= 1
        if not meets(lo):
            result.note = "even the lower bound misses the SLO"
            return result
    else:
        return result
    good, bad = lo, hi
    while budget > 0 and (bad - good) / bad * 100 > spec.tolerance_pct:
        budget -= 1
        mid = (good + bad) / 2
        if meets(mid):
            good = mid
        else:
            bad = mid
    result.rate_req_s = good
    result.note = f"bracket [{good:.4g}, {bad:.4g}] req/s after {len(result.trials)} trials"
    return result
