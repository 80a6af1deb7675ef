"""Measurement windows by workload kind, as the engine worker runs them: one repetition (or a warmup) of a point."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.adapters.base import EngineAdapter
from harness.plan.points import ServingWorkloadConfig, WorkloadConfig
from harness.records import RequestRecord, RunClock


@dataclass
class WindowResult:
    records: list[RequestRecord]
    memory: dict[str, float] = field(default_factory=dict)  # engine-reported memory figures (bytes)
    figures: dict[str, float | None] = field(default_factory=dict)  # offered rate, a server's /metrics deltas


def run_window(
    adapter: EngineAdapter,
    workload: WorkloadConfig | ServingWorkloadConfig,
    warmup: bool,
    clock: RunClock,
    repetition: int = 0,
) -> WindowResult:
    if isinstance(workload, ServingWorkloadConfig):
        from harness.scenarios.serving_window import serving_window

        records, figures = serving_window(adapter, workload, clock.origin_ns, warmup, repetition)
        return WindowResult(records, figures=figures)
    from harness.scenarios.offline_batch import offline_window

    records = offline_window(adapter, workload, clock, warmup)
    return WindowResult(records, memory=adapter.memory(), figures=adapter.window_figures())
