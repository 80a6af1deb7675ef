"""One metric of one point, baseline against candidate: a threshold on the change and a one-sided U test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import mannwhitneyu

Verdict = Literal["regression", "improvement", "no change", "inconclusive", "failed", "missing", "new"]


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

    @property
    def worse(self) -> bool:
        """The change is in the bad direction (whether or not it is confirmed)."""
        if self.change_pct is None:
            return False
        return self.change_pct > 0 if self.direction == "lower" else self.change_pct < 0


def compare_metric(
    point: str,
    metric: str,
    base: list[float],
    cand: list[float],
    threshold_pct: float,
    alpha: float,
    better: Literal["lower", "higher"],
) -> Comparison:
    base = [v for v in base if v is not None and not math.isnan(v)]
    cand = [v for v in cand if v is not None and not math.isnan(v)]
    result = Comparison(
        point=point,
        metric=metric,
        verdict="no change",
        threshold_pct=threshold_pct,
        direction=better,
        n_baseline=len(base),
        n_candidate=len(cand),
    )
    if not base and not cand:
        result.verdict = "missing"
        result.note = "no values on either side"
        return result
    if not cand:
        # measured before, gone now: a candidate that stopped producing a figure has not shown it did not regress
        result.verdict = "regression"
        result.note = f"gone from the candidate (the baseline has {len(base)} values)"
        return result
    if not base:
        result.verdict = "new"
        result.note = "only in the candidate"
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
    p = (
        float(mannwhitneyu(cand, base, alternative=alternative, method="auto").pvalue)
        if len(set(base + cand)) > 1
        else 1.0
    )
    result.p_value = p
    if p <= alpha:
        result.verdict = "regression" if worse else "improvement"
    else:
        need = min_repetitions(alpha)
        result.verdict = "inconclusive"
        short = min(len(base), len(cand))
        result.note = (
            f"need ≥ {need} repetitions per run to confirm at alpha={alpha}"
            if short < need
            else f"p={p:.3f} > alpha={alpha}: add repetitions"
        )
    return result
