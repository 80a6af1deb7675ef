"""Every figure of one measurement window that does not come from the engine: samplers' summaries and energy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.measure.energy import energy_figures
from harness.measure.samplers import SAMPLERS, sampler_class
from harness.records import RequestRecord, Timeline


def request_window(records: Sequence[RequestRecord]) -> tuple[int, int] | None:
    """[first scheduled time, last token] of a window's requests, when any request produced a token."""
    starts = [r.t_sched_ns for r in records]
    ends = [r.t_end_ns for r in records if r.t_end_ns is not None]
    return (min(starts), max(ends)) if starts and ends else None


def measured_figures(
    timelines: Sequence[Timeline], records: Sequence[RequestRecord], idle_w: dict[str, float] | None
) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Each sampler's summary of its timeline, then energy over the window; with how each was measured."""
    figures: dict[str, float | None] = {}
    info: dict[str, Any] = {}
    window = request_window(records)
    for tl in timelines:
        if tl.sampler not in SAMPLERS:
            continue
        found, facts = sampler_class(tl.sampler).summarize(tl, window)
        figures.update(found)
        info.update(facts)
    energy, energy_info = energy_figures(timelines, records, idle_w)
    figures.update(energy)
    info.update(energy_info)
    return figures, info
