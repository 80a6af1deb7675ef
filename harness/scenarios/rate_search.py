"""Searches over request rates for serving suites: a rate sweep and an SLO search. Every trial is a stored point.

Rate sweep: a synchronous trial (one user, closed loop) gives the lowest useful rate, a max-throughput trial
(``max_concurrency`` users) the highest; then ``rates`` open-loop rates evenly between them, lowest first. A rate is
*saturated* when the achieved request rate falls below ``saturation_pct`` % of the offered rate; the sweep stops at
the second saturated rate (past saturation, more load only measures a queue).

SLO search: the largest open-loop rate whose p99 TTFT and p99 TPOT meet the suite's ``slo`` (limits left unset are
not checked), by bisection between ``rate_min`` and ``rate_max`` (measured as above when not given), with at most
``max_trials`` trials in all and a stop when the bracket is narrower than ``tolerance_pct`` % of its top.

Trials run on the group's loaded engine: a trial is the template point with the arrival pattern the search chose,
its id a hash of the template, the search and the trial, so ``--resume`` finds trials stored earlier.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.metrics.serving import is_saturated, meets_p99_slo
from harness.metrics.window import WindowSLO
from harness.plan.points import Point, ServingWorkloadConfig, stable_hash
from harness.plan.schema import ServingSearchSpec, SLOSpec
from harness.scenarios.base import Measure, Metrics, SearchResult, SearchTrial

# trial(label, arrival, rate, concurrency) -> the trial's figures (medians of its measured repetitions)
Trial = Callable[[str, str, float | None, int | None], Metrics]
GOALS = {"slo": "largest rate meeting the SLO", "rate_sweep": "largest unsaturated rate"}


class _Trials:
    """Runs trials and records each in ``result.trials`` (number, what it set, the search's verdict on it)."""

    def __init__(self, trial: Trial, result: SearchResult) -> None:
        self.trial, self.result = trial, result

    def __call__(
        self,
        label: str,
        arrival: str,
        rate: float | None,
        concurrency: int | None,
        verdict: Callable[[Metrics], str | None] = lambda _: None,
    ) -> Metrics:
        metrics = self.trial(label, arrival, rate, concurrency)
        self.result.trials.append(
            SearchTrial(
                number=len(self.result.trials),
                point_id="",
                label=label,
                verdict=verdict(metrics),
                setting={"arrival": arrival, "rate": rate, "concurrency": concurrency},
            )
        )
        return metrics


def _new(spec: ServingSearchSpec, result: SearchResult | None) -> SearchResult:
    return result or SearchResult(search_id="", mode=spec.mode, goal=GOALS[spec.mode])


def _bounds(spec: ServingSearchSpec, run: _Trials) -> tuple[float | None, float | None]:
    lo, hi = spec.rate_min, spec.rate_max
    if lo is None:
        lo = run("synchronous", "concurrency", None, 1).get("request_throughput_req_s")
    if hi is None:
        hi = run("max-throughput", "concurrency", None, spec.max_concurrency).get("request_throughput_req_s")
    return lo, hi


def rate_sweep(spec: ServingSearchSpec, arrival: str, trial: Trial, result: SearchResult | None = None) -> SearchResult:
    result = _new(spec, result)
    run = _Trials(trial, result)
    lo, hi = _bounds(spec, run)
    if not lo or not hi:
        result.note = "a bound trial served no request"
        return result
    rates = [lo + (hi - lo) * (k + 1) / (spec.rates + 1) for k in range(spec.rates)] if hi > lo else [lo]
    saturated_seen = 0
    for rate in rates:

        def saturation(metrics: Metrics, rate: float = rate) -> str:
            achieved = metrics.get("request_throughput_req_s")
            return "saturated" if is_saturated(rate, achieved, spec.saturation_pct) else "unsaturated"

        run(f"rate {rate:.3g}", arrival, rate, None, saturation)
        if result.trials[-1].verdict == "saturated":
            saturated_seen += 1
            if saturated_seen >= 2:
                result.note = f"stopped at {rate:.3g} req/s: saturated twice"
                break
        else:
            result.found = {"rate_req_s": rate}
    return result


def slo_search(
    spec: ServingSearchSpec, arrival: str, slo: WindowSLO, trial: Trial, result: SearchResult | None = None
) -> SearchResult:
    result = _new(spec, result)
    if slo.ttft_ms is None and slo.tpot_ms is None:
        result.note = "the suite sets no ttft_ms/tpot_ms slo"
        return result
    run = _Trials(trial, result)
    lo, hi = _bounds(spec, run)
    budget = spec.max_trials - len(result.trials)
    if not lo or not hi:
        result.note = "a bound trial served no request"
        return result

    def verdict(metrics: Metrics) -> str:
        return "meets the SLO" if meets_p99_slo(metrics, slo) else "misses the SLO"

    def meets(rate: float) -> bool:
        run(f"slo trial {rate:.3g}", arrival, rate, None, verdict)
        return result.trials[-1].verdict == "meets the SLO"

    if budget > 0:
        budget -= 1
        if meets(hi):
            result.found = {"rate_req_s": hi}
            result.note = "the upper bound meets the SLO"
            return result
    if budget <= 0:
        return result
    budget -= 1
    if not meets(lo):
        result.note = "even the lower bound misses the SLO"
        return result
    good, bad = lo, hi
    while budget > 0 and (bad - good) / bad * 100 > spec.tolerance_pct:
        budget -= 1
        mid = (good + bad) / 2
        if meets(mid):
            good = mid
        else:
            bad = mid
    result.found = {"rate_req_s": good}
    result.note = f"bracket [{good:.4g}, {bad:.4g}] req/s after {len(result.trials)} trials"
    return result


def trial_point(
    template: Point, spec: ServingSearchSpec, k: int, arrival: str, rate: float | None, concurrency: int | None
) -> Point:
    workload = template.workload.model_copy(update={"arrival": arrival, "rate": rate, "concurrency": concurrency})
    return template.model_copy(
        update={
            "workload": workload,
            "index": template.index * 1000 + k,
            "axes": {**template.axes, "search": spec.mode, "trial": k, "rate": rate, "concurrency": concurrency},
            "point_id": stable_hash(
                {
                    "template": template.point_id,
                    "search": spec.model_dump(),
                    "trial": k,
                    "workload": workload.model_dump(),
                }
            ),
        }
    )


def serving_search(template: Point, spec: ServingSearchSpec, slo: SLOSpec, measure: Measure) -> SearchResult:
    """Run the suite's rate sweep or SLO search from ``template`` on the group's engine."""
    result = SearchResult(
        search_id=template.point_id, mode=spec.mode, label=template.label() or "search", goal=GOALS[spec.mode]
    )
    measured: list[tuple[str, str]] = []  # (point id, status) of each trial, in order

    def trial(label: str, arrival: str, rate: float | None, concurrency: int | None) -> Metrics:
        point = trial_point(template, spec, len(measured), arrival, rate, concurrency)
        outcome = measure(point)
        measured.append((point.point_id, outcome.status))
        return outcome.metrics or {}

    assert isinstance(template.workload, ServingWorkloadConfig)
    arrival = template.workload.arrival if template.workload.arrival != "concurrency" else "constant"
    if spec.mode == "slo":
        slo_search(spec, arrival, WindowSLO(**slo.model_dump()), trial, result)
    else:
        rate_sweep(spec, arrival, trial, result)
    for t, (point_id, status) in zip(result.trials, measured, strict=True):
        t.point_id, t.status = point_id, status
    rate = result.found.get("rate_req_s")
    result.feasible = rate is not None
    result.best_point_id = (
        next((t.point_id for t in result.trials if t.setting.get("rate") == rate), None) if rate is not None else None
    )
    return result
