"""Energy figures of one measurement window from sampler timelines and request events (formulas: harness.metrics).

Cumulative counters (NVML total energy, RAPL) are read at the window's bounds by linear interpolation between
samples, so the energy of any interval — the window, its prefill and decode phases, an idle span — is
``cum(b) − cum(a)``. A GPU without an energy counter falls back to integrating its power samples
(``energy_source`` says ``power_integration`` and the window is flagged ``low_confidence``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness import metrics
from harness.records import RequestRecord, Timeline

NS_PER_S = 1e9
Between = Callable[[int, int], float | None]


def _series(tl: Timeline, field: str) -> tuple[np.ndarray, np.ndarray]:
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


def _cumulative(tl: Timeline, field: str, scale: float) -> Between | None:
    """``between(a, b)`` in J for a cumulative counter field (``scale`` converts its unit to J)."""
    t, v = _series(tl, field)
    if t.size < 2:
        return None
    t, v = counter_knots(t, v)
    return lambda a, b: float(np.interp(b, t, v) - np.interp(a, t, v)) * scale


def _integrated(tl: Timeline, field: str) -> Between | None:
    t, v = _series(tl, field)
    if t.size < 2:
        return None
    return lambda a, b: metrics.integrate_power_j(t.tolist(), v.tolist(), a, b)


def energy_sources(timelines: Sequence[Timeline]) -> dict[str, tuple[Between, str]]:
    """Per device (``gpu0``, ``package0``, ``package0_dram``…) a way to get its energy over an interval, and how."""
    sources: dict[str, tuple[Between, str]] = {}
    for tl in timelines:
        if tl.sampler == "nvml":
            gpus = sorted({m.group(1) for f in tl.values if (m := re.match(r"(gpu\d+)_", f))})
            for gpu in gpus:
                counter = _cumulative(tl, f"{gpu}_energy_mj", 1e-3)
                if counter is not None:
                    sources[gpu] = (counter, "nvml_counter")
                    continue
                for power_field in (f"{gpu}_power_w", f"{gpu}_power_avg_w"):
                    integral = _integrated(tl, power_field)
                    if integral is not None:
                        sources[gpu] = (integral, "power_integration")
                        break
        elif tl.sampler == "rapl":
            for field in tl.values:
                if not field.endswith("_energy_j"):
                    continue
                domain = field.removesuffix("_energy_j")
                # packages and DRAM; core/uncore are inside their package's counter
                if "_" in domain and not domain.endswith("dram"):
                    continue
                counter = _cumulative(tl, field, 1.0)
                if counter is not None:
                    sources[domain] = (counter, "rapl")
    return sources


def _kind(device: str) -> str:
    return "gpu" if device.startswith("gpu") else "dram" if device.endswith("dram") else "cpu"


def idle_power_w(idle_timelines: Sequence[Timeline]) -> dict[str, float]:
    """Mean power of each kind (gpu, cpu, dram) over an idle span measured before the point."""
    sums: dict[str, float] = {}
    for device, (between, _) in energy_sources(idle_timelines).items():
        spans = [(tl.t_ns[0], tl.t_ns[-1]) for tl in idle_timelines if len(tl.t_ns) >= 2]
        if not spans:
            continue
        a, b = spans[0]
        energy = between(a, b)
        if energy is not None and b > a:
            sums[_kind(device)] = sums.get(_kind(device), 0.0) + energy / ((b - a) / NS_PER_S)
    return sums


def _peak_sum(tl: Timeline, suffix: str, a: int, b: int) -> float | None:
    """Peak over [a, b] of the per-tick sum of every GPU's ``<suffix>`` field."""
    columns = [v for f, v in tl.values.items() if re.fullmatch(rf"gpu\d+_{suffix}", f)]
    if not columns:
        return None
    totals = []
    for i, t in enumerate(tl.t_ns):
        if a <= t <= b:
            readings = [c[i] for c in columns if i < len(c) and c[i] is not None]
            if readings:
                totals.append(sum(readings))
    return max(totals) if totals else None


def energy_figures(timelines: Sequence[Timeline], records: Sequence[RequestRecord],
                   idle_w: dict[str, float] | None = None) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Figures of one repetition and facts about how they were measured (source, confidence)."""
    figures: dict[str, float | None] = {}
    info: dict[str, Any] = {}
    starts = [r.t_sched_ns for r in records]
    ends = [r.t_end_ns for r in records if r.t_end_ns is not None]
    nvml = next((tl for tl in timelines if tl.sampler == "nvml"), None)
    if nvml is not None and starts and ends:
        figures["gpu_mem_peak_bytes"] = _peak_sum(nvml, "mem_used_bytes", min(starts), max(ends))
        power = _peak_sum(nvml, "power_w", min(starts), max(ends))
        figures["gpu_power_peak_w"] = power if power is not None else _peak_sum(nvml, "power_avg_w", min(starts),
                                                                                 max(ends))
    sources = energy_sources(timelines)
    if not sources or not starts or not ends:
        return figures, info
    a, b = min(starts), max(ends)
    duration_s = (b - a) / NS_PER_S
    totals: dict[str, float] = {}
    for device, (between, _) in sources.items():
        energy = between(a, b)
        if energy is not None:
            totals[_kind(device)] = totals.get(_kind(device), 0.0) + energy
    if not totals:
        return figures, info
    energy_j = sum(totals.values())
    source = "+".join(sorted({how for _, how in sources.values()}))
    n_out = sum(r.n_out or 0 for r in records if r.ok)
    for kind, value in totals.items():
        figures[f"{kind}_energy_j"] = value
        figures[f"{kind}_power_mean_w"] = value / duration_s if duration_s > 0 else None
    figures["energy_j"] = energy_j
    figures["energy_per_token_j"] = metrics.energy_per_token_j(energy_j, n_out)
    if idle_w:
        idle_total = sum(idle_w.get(kind, 0.0) for kind in totals)
        figures["idle_power_w"] = idle_total
        for kind in totals:
            if kind in idle_w:
                figures[f"{kind}_idle_power_w"] = idle_w[kind]
        figures["energy_net_j"] = metrics.net_energy_j(energy_j, idle_total, duration_s)
        figures["energy_net_per_token_j"] = metrics.energy_per_token_j(figures["energy_net_j"], n_out)
    phases = metrics.phase_intervals(records)
    for phase, spans in phases.items():
        if not spans:
            continue
        parts = [between(x, y) for between, _ in sources.values() for x, y in spans]
        known = [p for p in parts if p is not None]
        figures[f"{phase}_energy_j"] = float(sum(known)) if known else None
    low = metrics.energy_low_confidence(duration_s, source)
    figures["energy_low_confidence"] = 1.0 if low else 0.0
    info.update({"energy_source": source, "low_confidence": low, "window_s": duration_s,
                 "devices": {d: how for d, (_, how) in sources.items()}})
    if nvml is not None:
        periods = [update_period_ms(*_series(nvml, f)) for f in nvml.values if f.endswith("_energy_mj")]
        known = [p for p in periods if p is not None]
        if known:
            info["counter_update_ms"] = max(known)
    return figures, info


def carbon_figures(timelines: Sequence[Timeline]) -> tuple[dict[str, float | None], dict[str, Any]]:
    """codecarbon's CO2e, named ``co2e_estimate_kg`` when its CPU figure was a TDP estimate."""
    for tl in timelines:
        if tl.sampler == "codecarbon" and tl.values.get("co2e_kg"):
            estimate = bool(tl.meta.get("co2e_is_estimate", True))
            value = tl.values["co2e_kg"][-1]
            return {"co2e_estimate_kg" if estimate else "co2e_kg": value}, {"codecarbon": tl.meta}
    return {}, {}
