"""Statistics of a series and across repetitions: percentiles, the bootstrap CI of the median, peaks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from harness.metrics.catalogue import PERCENTILES

MIN_BOOTSTRAP_RESAMPLES = 1000


def distribution(values: Iterable[float | None]) -> dict[str, float | None]:
    """p50/p90/p95/p99 by linear interpolation (numpy's default: rank = q/100 × (n − 1)), mean, *population* std
    (ddof=0, defined for a single value), count. None entries are skipped; no values → every statistic None and
    count 0."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return {**{f"p{q}": None for q in PERCENTILES}, "mean": None, "std": None, "count": 0.0}
    pct = np.percentile(data, PERCENTILES, method="linear")
    return {
        **{f"p{q}": float(v) for q, v in zip(PERCENTILES, pct, strict=True)},
        "mean": float(data.mean()),
        "std": float(data.std(ddof=0)),
        "count": float(data.size),
    }


def bootstrap_median_ci(
    values: Sequence[float | None], seed: int = 0, n_resamples: int = 1000, confidence: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """(median, low, high): the median of the repetitions' values and a seeded percentile-bootstrap CI of it.

    Resamples the values with replacement ``n_resamples`` times (≥ 1000, per METRICS.md) from
    ``numpy.random.default_rng(seed)``, takes each resample's median, and returns the (1 − confidence)/2 and
    (1 + confidence)/2 quantiles of those medians (linear interpolation). None and NaN values are skipped;
    one value → (v, v, v); none → (None, None, None). The same inputs and seed give the same result.
    """
    if n_resamples < MIN_BOOTSTRAP_RESAMPLES:
        raise ValueError(f"n_resamples must be ≥ {MIN_BOOTSTRAP_RESAMPLES} (METRICS.md), got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return None, None, None
    median = float(np.median(data))
    if data.size == 1:
        return median, median, median
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(n_resamples, data.size))
    medians = np.median(data[idx], axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    return median, float(low), float(high)


def aggregate_repetitions(
    per_rep: Sequence[dict[str, float | None]], seed: int = 0, n_resamples: int = 1000, confidence: float = 0.95
) -> dict[str, tuple[float | None, float | None, float | None]]:
    """For every key found in any repetition: ``bootstrap_median_ci`` over the repetitions' values (a repetition
    lacking the key, or holding None, is skipped for that key). Keys keep first-seen order."""
    keys = list(dict.fromkeys(k for rep in per_rep for k in rep))
    return {
        k: bootstrap_median_ci(
            [rep.get(k) for rep in per_rep], seed=seed, n_resamples=n_resamples, confidence=confidence
        )
        for k in keys
    }


def peak(values: Iterable[float | None]) -> float | None:
    """Largest sampled value (None readings skipped); None when nothing was read."""
    data = [float(v) for v in values if v is not None]
    return max(data) if data else None
