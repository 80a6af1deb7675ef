"""The CI regression gate: is the candidate run worse than the baseline, beyond noise and beyond a threshold?

Per point and metric, the repetitions' values of both runs are compared. A change is a *regression* only when it
is both larger than the metric's threshold (in the bad direction) and significant by a one-sided Mann-Whitney U
test at ``alpha``. A change beyond the threshold that the test cannot confirm is *inconclusive* (more repetitions
are needed); a change inside the threshold is *no change*. Because a regression needs p ≤ alpha, two samples of the
same distribution are called a regression in at most ``alpha`` of trials whatever the noise.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import mannwhitneyu

Verdict = Literal["regression", "improvement", "no change", "inconclusive", "failed", "missing", "new"]

# Lower is better unless a pattern below says higher.
HIGHER_IS_BETTER = ("*throughput*", "goodput*", "slo_attainment", "mfu*", "mbu*", "top1_agreement*")
DEFAULT_METRICS = ("output_throughput_tok_s", "ttft_ms_p50", "tpot_ms_p50", "e2e_ms_p50", "mem_peak_rss_bytes",
                   "energy_per_token_j", "goodput_req_s")


class MetricRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_pct: float | None = None
    direction: Literal["lower", "higher"] | None = None


class GateConfig(BaseModel):
    """The suite's ``gate:`` section."""

    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    threshold_pct: float = Field(default=5.0, ge=0, description="default for every metric")
    metrics: dict[str, MetricRule] = Field(default_factory=lambda: {m: MetricRule() for m in DEFAULT_METRICS})
    fail_on_failed_points: bool = True


def direction(metric: str, rule: MetricRule | None = None) -> Literal["lower", "higher"]:
    if rule is not None and rule.direction:
        return rule.direction
    return "higher" if any(fnmatch.fnmatch(metric, p) for p in HIGHER_IS_BETTER) else "lower"


def min_repetitions(alpha: float) -> int:
    """Fewest repetitions per side for which a one-sided Mann-Whitney U can reach p ≤ alpha (p_min = 1/C(2n, n))."""
    n = 1
    while 1 / math.comb(2 * n, n) > alpha:
        n += 1
    return n


@dataclass
class Comparison:
    point: str
    metric: str
    verdict: Verdict
    baseline: float | None = None
    candidate: float | None = None
    change_pct: float | None = None
    p_value: float | None = None
    threshold_pct: float | None = None
    direction: str = "lower"
    n_baseline: int = 0
    n_candidate: int = 0
    note: str = ""


def compare_metric(point: str, metric: str, base: list[float], cand: list[float], threshold_pct: float,
                   alpha: float, better: Literal["lower", "higher"]) -> Comparison:
    base = [v for v in base if v is not None and not math.isnan(v)]
    cand = [v for v in cand if v is not None and not math.isnan(v)]
    result = Comparison(point=point, metric=metric, verdict="no change", threshold_pct=threshold_pct,
                        direction=better, n_baseline=len(base), n_candidate=len(cand))
    if not base or not cand:
        result.verdict = "missing"
        result.note = "no values on " + ("either side" if not base and not cand else
                                          "the baseline" if not base else "the candidate")
        return result
    b, c = float(np.median(base)), float(np.median(cand))
    result.baseline, result.candidate = b, c
    if b == 0:
        result.change_pct = 0.0 if c == 0 else math.inf
    else:
        result.change_pct = (c - b) / abs(b) * 100
    worse = result.change_pct > 0 if better == "lower" else result.change_pct < 0
    if abs(result.change_pct) <= threshold_pct:
        return result
    alternative = ("greater" if worse else "less") if better == "lower" else ("less" if worse else "greater")
    # one-sided: is the candidate shifted in the direction of the observed change?
    p = float(mannwhitneyu(cand, base, alternative=alternative, method="auto").pvalue) if len(set(base + cand)) > 1 \
        else 1.0
    result.p_value = p
    if p <= alpha:
        result.verdict = "regression" if worse else "improvement"
    else:
        need = min_repetitions(alpha)
        result.verdict = "inconclusive"
        short = min(len(base), len(cand))
        result.note = (f"need ≥ {need} repetitions per run to confirm at alpha={alpha}" if short < need
                       else f"p={p:.3f} > alpha={alpha}: add repetitions")
    return result


@dataclass
class GateReport:
    baseline_run: str
    candidate_run: str
    comparisons: list[Comparison] = field(default_factory=list)
    environment_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    @property
    def failed(self) -> bool:
        return any(c.verdict in ("regression", "failed") for c in self.comparisons)

    def summary_line(self) -> str:
        parts = [f"{self.count(v)} {v}" for v in ("regression", "failed", "inconclusive", "improvement",
                                                   "no change", "missing", "new") if self.count(v)]
        head = "REGRESSION" if self.failed else "PASS"
        return f"{head}: {', '.join(parts) or 'nothing compared'}"

    def to_dict(self) -> dict[str, Any]:
        return {"baseline_run": self.baseline_run, "candidate_run": self.candidate_run,
                "result": "regression" if self.failed else "pass", "summary": self.summary_line(),
                "environment_changes": self.environment_changes, "notes": self.notes,
                "comparisons": [c.__dict__ for c in self.comparisons]}


ENV_KEYS = ("cpu_model", "python", "driver", "cuda_visible_devices")


def environment_changes(base_fp: dict[str, Any], cand_fp: dict[str, Any]) -> list[str]:
    """Differences that make a comparison suspect: hardware, driver, Python and engine package versions."""
    changes = []
    for key in ENV_KEYS:
        if base_fp.get(key) != cand_fp.get(key):
            changes.append(f"{key}: {base_fp.get(key)} → {cand_fp.get(key)}")
    base_gpus = [g.get("name") for g in base_fp.get("gpus", [])]
    cand_gpus = [g.get("name") for g in cand_fp.get("gpus", [])]
    if base_gpus != cand_gpus:
        changes.append(f"gpus: {base_gpus} → {cand_gpus}")
    base_pk, cand_pk = base_fp.get("packages", {}), cand_fp.get("packages", {})
    for name in sorted(set(base_pk) | set(cand_pk)):
        if name != "llm-harness" and base_pk.get(name) != cand_pk.get(name):
            changes.append(f"{name}: {base_pk.get(name)} → {cand_pk.get(name)}")
    return changes


def gate_runs(baseline: dict[str, Any], candidate: dict[str, Any], config: GateConfig) -> GateReport:
    """Compare two loaded runs. Each is ``{"run": row, "points": [point rows], "reps": {point_id: {metric: [..]}}}``."""
    report = GateReport(baseline["run"]["run_id"], candidate["run"]["run_id"])
    report.environment_changes = environment_changes(baseline["run"]["fingerprint"], candidate["run"]["fingerprint"])
    base_points = {p["point_id"]: p for p in baseline["points"]}
    cand_points = {p["point_id"]: p for p in candidate["points"]}
    for point_id, cp in cand_points.items():
        label = cp["label"]
        bp = base_points.get(point_id)
        if bp is None:
            report.comparisons.append(Comparison(point=label, metric="*", verdict="new",
                                                 note="point only in the candidate"))
            continue
        if cp["status"] != "ok":
            verdict: Verdict = "failed" if config.fail_on_failed_points and bp["status"] == "ok" else "missing"
            report.comparisons.append(Comparison(point=label, metric="*", verdict=verdict,
                                                 note=f"candidate point failed: {cp['error']}"))
            continue
        if bp["status"] != "ok":
            report.comparisons.append(Comparison(point=label, metric="*", verdict="missing",
                                                 note=f"baseline point failed: {bp['error']}"))
            continue
        base_reps, cand_reps = baseline["reps"].get(point_id, {}), candidate["reps"].get(point_id, {})
        for metric, rule in config.metrics.items():
            if metric not in base_reps and metric not in cand_reps:
                continue  # a metric neither run measured (e.g. energy on a machine without counters)
            threshold = rule.threshold_pct if rule.threshold_pct is not None else config.threshold_pct
            report.comparisons.append(compare_metric(label, metric, base_reps.get(metric, []),
                                                     cand_reps.get(metric, []), threshold, config.alpha,
                                                     direction(metric, rule)))
    for point_id, bp in base_points.items():
        if point_id not in cand_points:
            report.comparisons.append(Comparison(point=bp["label"], metric="*", verdict="missing",
                                                 note="point only in the baseline"))
    return report
