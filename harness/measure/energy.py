"""Energy figures of one measurement window from sampler timelines and request events (formulas: harness.metrics).

Every sampler names the devices whose energy it measured (``Sampler.energy_sources``: NVML's counter or power,
RAPL's packages and DRAM). Cumulative counters are read at the window's bounds by linear interpolation between
samples, so the energy of any interval — the window, its prefill and decode phases, an idle span — is
``cum(b) − cum(a)``. A GPU without an energy counter falls back to integrating its power samples
(``energy_source`` says ``power_integration`` and the window is flagged ``low_confidence``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import metrics
from harness.measure.counters import EnergySource, series, update_period_ms
from harness.records import RequestRecord, Timeline

NS_PER_S = 1e9


def energy_sources(timelines: Sequence[Timeline]) -> dict[str, EnergySource]:
    """Per device (``gpu0``, ``package0``, ``package0_dram``…) a way to get its energy over an interval, and how."""
    from harness.measure.samplers import SAMPLERS, sampler_class

    sources: dict[str, EnergySource] = {}
    for tl in timelines:
        if tl.sampler in SAMPLERS:
            sources.update(sampler_class(tl.sampler).energy_sources(tl))
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


def _net_figures(
    figures: dict[str, float | None], totals: dict[str, float], idle_w: dict[str, float], duration_s: float, n_out: int
) -> None:
    energy_j = sum(totals.values())
    idle_total = sum(idle_w.get(kind, 0.0) for kind in totals)
    figures["idle_power_w"] = idle_total
    for kind in totals:
        if kind in idle_w:
            figures[f"{kind}_idle_power_w"] = idle_w[kind]
    figures["energy_net_j"] = metrics.net_energy_j(energy_j, idle_total, duration_s)
    figures["energy_net_per_token_j"] = metrics.energy_per_token_j(figures["energy_net_j"], n_out)


def _counter_update_ms(timelines: Sequence[Timeline]) -> float | None:
    periods = [update_period_ms(*series(tl, f)) for tl in timelines for f in tl.values if f.endswith("_energy_mj")]
    known = [p for p in periods if p is not None]
    return max(known) if known else None


def energy_figures(
    timelines: Sequence[Timeline], records: Sequence[RequestRecord], idle_w: dict[str, float] | None = None
) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Figures of one repetition and facts about how they were measured (source, confidence)."""
    figures: dict[str, float | None] = {}
    info: dict[str, Any] = {}
    starts = [r.t_sched_ns for r in records]
    ends = [r.t_end_ns for r in records if r.t_end_ns is not None]
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
        _net_figures(figures, totals, idle_w, duration_s, n_out)
    for phase, spans in metrics.phase_intervals(records).items():
        if not spans:
            continue
        parts = [between(x, y) for between, _ in sources.values() for x, y in spans]
        known = [p for p in parts if p is not None]
        figures[f"{phase}_energy_j"] = float(sum(known)) if known else None
    low = metrics.energy_low_confidence(duration_s, source)
    figures["energy_low_confidence"] = 1.0 if low else 0.0
    info.update(
        {
            "energy_source": source,
            "low_confidence": low,
            "window_s": duration_s,
            "devices": {d: how for d, (_, how) in sources.items()},
        }
    )
    update_ms = _counter_update_ms(timelines)
    if update_ms is not None:
        info["counter_update_ms"] = update_ms
    return figures, info
