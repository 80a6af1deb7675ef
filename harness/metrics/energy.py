"""Power and energy (METRICS.md, "Power and energy"): integrals of power, counters with wraparound, phases, net
energy and energy per token."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from harness.metrics.units import NS_PER_S
from harness.records import RequestRecord

# Hopper's ordinary power reading is a ~1 s moving average: integrated over a shorter window it undercounts.
LOW_CONFIDENCE_WINDOW_S = 1.0


def _power_samples(t_ns: Sequence[int], watts: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    pairs = sorted((t, w) for t, w in zip(t_ns, watts, strict=True) if w is not None and not math.isnan(w))
    t = np.asarray([p[0] for p in pairs], dtype=float)
    w = np.asarray([p[1] for p in pairs], dtype=float)
    return t, w


def integrate_power_j(
    t_ns: Sequence[int], watts: Sequence[float | None], start_ns: int | None = None, end_ns: int | None = None
) -> float | None:
    """Trapezoidal integral of power samples: Σ (w_i + w_{i+1}) / 2 × (t_{i+1} − t_i), W × s = J.

    Samples without a reading (None/NaN) are skipped. With ``start_ns``/``end_ns`` the integral is clipped to that
    interval, the power at a cut being linearly interpolated between its neighbouring samples; nothing is
    extrapolated beyond the first and last sample (check ``power_coverage_s``). None with fewer than two samples or
    when the interval does not overlap the samples.
    """
    t, w = _power_samples(t_ns, watts)
    if t.size < 2:
        return None
    lo = t[0] if start_ns is None else max(float(start_ns), t[0])
    hi = t[-1] if end_ns is None else min(float(end_ns), t[-1])
    if hi < lo:
        return None
    inside = (t > lo) & (t < hi)
    grid = np.concatenate([[lo], t[inside], [hi]])
    wg = np.interp(grid, t, w)
    return float(np.sum((wg[1:] + wg[:-1]) / 2 * np.diff(grid)) / NS_PER_S)


def power_coverage_s(t_ns: Sequence[int], watts: Sequence[float | None], start_ns: int, end_ns: int) -> float:
    """Seconds of [start_ns, end_ns] that lie between the first and last power sample (what ``integrate_power_j``
    can integrate)."""
    t, _ = _power_samples(t_ns, watts)
    if t.size < 2:
        return 0.0
    return max(0.0, min(float(end_ns), t[-1]) - max(float(start_ns), t[0])) / NS_PER_S


def average_power_w(
    t_ns: Sequence[int], watts: Sequence[float | None], start_ns: int | None = None, end_ns: int | None = None
) -> float | None:
    """Time-weighted mean power = trapezoidal energy / covered duration (e.g. idle power before a point)."""
    t, w = _power_samples(t_ns, watts)
    if t.size == 0:
        return None
    lo = t[0] if start_ns is None else max(float(start_ns), t[0])
    hi = t[-1] if end_ns is None else min(float(end_ns), t[-1])
    if hi < lo:
        return None
    if hi == lo:  # one sample, or an instant: the (interpolated) reading there
        return float(np.interp(lo, t, w))
    energy = integrate_power_j(t_ns, watts, start_ns, end_ns)
    assert energy is not None
    return energy / ((hi - lo) / NS_PER_S)


def energy_in_intervals_j(
    t_ns: Sequence[int], watts: Sequence[float | None], intervals: Iterable[tuple[int, int]]
) -> float | None:
    """Σ of ``integrate_power_j`` over disjoint intervals (e.g. ``phase_intervals(...)["prefill"]``); an interval
    outside the samples adds nothing; None when no interval overlaps the samples."""
    parts = [integrate_power_j(t_ns, watts, a, b) for a, b in intervals]
    known = [p for p in parts if p is not None]
    return float(sum(known)) if known else None


def phase_intervals(records: Sequence[RequestRecord]) -> dict[str, list[tuple[int, int]]]:
    """Split the run clock by what the engine was doing, from request events.

    A request is prefilling over [t_send, t_first) and decoding over [t_first, t_end). With several requests in
    flight the phases can overlap (continuous batching); each instant goes to exactly one of ``prefill`` (some
    request prefilling, none decoding), ``decode`` (decoding, none prefilling) or ``mixed`` (both). Idle gaps belong
    to none. Returns sorted, disjoint, merged [start_ns, end_ns) intervals per phase. Requests without a first
    token contribute nothing (their prefill has no known end).
    """
    events: list[tuple[int, int, int]] = []  # (t, Δprefilling, Δdecoding)
    for r in records:
        if r.t_first_ns is None:
            continue
        if r.t_first_ns > r.t_send_ns:
            events += [(r.t_send_ns, 1, 0), (r.t_first_ns, -1, 0)]
        if r.t_end_ns is not None and r.t_end_ns > r.t_first_ns:
            events += [(r.t_first_ns, 0, 1), (r.t_end_ns, 0, -1)]
    events.sort()
    out: dict[str, list[tuple[int, int]]] = {"prefill": [], "decode": [], "mixed": []}
    prefilling = decoding = 0
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:
            prefilling += events[i][1]
            decoding += events[i][2]
            i += 1
        if i == len(events):
            break
        nxt = events[i][0]
        phase = "mixed" if prefilling and decoding else "prefill" if prefilling else "decode" if decoding else None
        if phase is None:
            continue
        spans = out[phase]
        if spans and spans[-1][1] == t:
            spans[-1] = (spans[-1][0], nxt)
        else:
            spans.append((t, nxt))
    return out


def counter_delta(start: float, end: float, max_range: float | None = None) -> float:
    """Increase of a monotonically increasing counter that may wrap (once) to 0 after ``max_range``:
    end − start, or (max_range − start) + end when end < start (RAPL ``energy_uj`` with ``max_energy_range_uj``).
    A counter that went backwards with no known range raises ValueError."""
    if end >= start:
        return end - start
    if max_range is None:
        raise ValueError(f"counter went backwards ({start} → {end}) and no wrap range is known")
    return max_range - start + end


def rapl_energy_j(start_uj: float, end_uj: float, max_range_uj: float | None) -> float:
    """RAPL ``energy_uj`` readings → J, handling one wraparound at ``max_energy_range_uj``."""
    return counter_delta(start_uj, end_uj, max_range_uj) / 1e6


def nvml_energy_j(start_mj: float, end_mj: float) -> float:
    """``nvmlDeviceGetTotalEnergyConsumption`` readings (mJ since driver load; a 64-bit counter) → J."""
    return counter_delta(start_mj, end_mj) / 1e3


def energy_low_confidence(duration_s: float, energy_source: str) -> bool:
    """True for windows under 1 s (counters and averaged power readings lag by up to ~1 s on Hopper-class GPUs)
    or when energy was integrated from power samples rather than read from an energy counter."""
    return duration_s < LOW_CONFIDENCE_WINDOW_S or "power_integration" in energy_source


def net_energy_j(gross_j: float, idle_w: float, duration_s: float) -> float:
    """Energy above idle: gross − idle power × duration."""
    return gross_j - idle_w * duration_s


def energy_per_token_j(energy_j: float | None, n_out_total: float) -> float | None:
    """Energy / Σ n_out; None when either is unknown or no token was generated."""
    return energy_j / n_out_total if energy_j is not None and n_out_total > 0 else None
