"""Energy over any interval of a timeline: cumulative counters read by interpolation, or power integrated.

A source is ``between(a, b) -> J`` over run-clock nanoseconds, so the energy of any interval — the window, its
prefill and decode phases, an idle span — comes from the same function. Samplers build their sources with these.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness import metrics
from harness.records import Timeline

Between = Callable[[int, int], float | None]
# (how to get a device's energy over an interval, how it is measured: "nvml_counter", "rapl", "power_integration")
EnergySource = tuple[Between, str]


def series(tl: Timeline, field: str) -> tuple[np.ndarray, np.ndarray]:
    """(t_ns, values) of one field, readings that are None dropped."""
    pairs = [(t, v) for t, v in zip(tl.t_ns, tl.values.get(field, []), strict=False) if v is not None]
    return np.asarray([p[0] for p in pairs], dtype=float), np.asarray([p[1] for p in pairs], dtype=float)


def counter_knots(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples where a cumulative counter took a new value.

    Counters update in steps (NVML's energy counter every ~100 ms on an H100, see docs/validation/gpu-h100.md)
    while the sampler reads faster; interpolating through every sample would put each step's energy at the tick
    that saw it. Interpolating through the first sample of each new value spreads it over the step instead.
    """
    keep = np.concatenate([[True], v[1:] != v[:-1]])
    keep[-1] = True  # the last reading bounds the window
    return t[keep], v[keep]


def update_period_ms(t: np.ndarray, v: np.ndarray) -> float | None:
    """Median time between a counter's updates: phases shorter than this are estimates."""
    knots, _ = counter_knots(t, v)
    return float(np.median(np.diff(knots[:-1])) / 1e6) if knots.size > 2 else None


def cumulative_counter(tl: Timeline, field: str, scale: float) -> Between | None:
    """``between(a, b)`` in J for a cumulative counter field (``scale`` converts its unit to J)."""
    t, v = series(tl, field)
    if t.size < 2:
        return None
    t, v = counter_knots(t, v)
    return lambda a, b: float(np.interp(b, t, v) - np.interp(a, t, v)) * scale


def integrated_power(tl: Timeline, field: str) -> Between | None:
    """``between(a, b)`` in J from a power field in W (trapezoids, ``harness.metrics.integrate_power_j``)."""
    t, v = series(tl, field)
    if t.size < 2:
        return None
    return lambda a, b: metrics.integrate_power_j(t.tolist(), v.tolist(), a, b)
