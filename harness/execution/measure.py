"""Measuring one point on a loaded engine: idle power, warmup windows, then repetitions with samplers running.

Per repetition the figures are the window's (``harness.metrics.window_metrics``), what the engine reported
(memory, a server's ``/metrics``), the model's facts (weights, fidelity) and what the samplers measured
(``harness.measure.window``); across repetitions, each metric's median with its bootstrap CI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from harness.execution.engine_process import EngineProcess, WorkerFailure
from harness.execution.protocol import WindowReply, WindowRequest
from harness.hardware.basis import HardwareSettings
from harness.hardware.point import hardware_figures
from harness.measure.energy import idle_power_w
from harness.measure.samplers import sampler_class
from harness.measure.samplers.base import Sampler, SamplerContext
from harness.measure.window import measured_figures
from harness.metrics.stats import aggregate_repetitions
from harness.metrics.window import WindowSLO, window_metrics
from harness.plan.points import Point
from harness.plan.schema import SamplerSpec, SLOSpec, Suite
from harness.records import RequestRecord, RunClock, Timeline, first_impossible
from harness.results.store import AGGREGATE, PointResult

Figures = dict[str, float | None]


class MeasureSettings(BaseModel):
    """What measuring a point needs besides the point (the suite's run-wide settings); plain data, so an executor
    can hand it to a process on another machine."""

    samplers: list[SamplerSpec] = Field(default_factory=list)
    slo: SLOSpec = Field(default_factory=SLOSpec)
    idle_s: float = 1.0
    load_timeout_s: float = 900.0
    fidelity: bool = False
    country_iso_code: str = "USA"
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)

    @classmethod
    def from_suite(cls, suite: Suite, hardware: HardwareSettings | None = None) -> MeasureSettings:
        return cls(
            samplers=suite.samplers,
            slo=suite.slo,
            idle_s=suite.idle_s,
            load_timeout_s=suite.load_timeout_s,
            fidelity=suite.fidelity,
            country_iso_code=suite.country_iso_code,
            hardware=hardware or HardwareSettings(cost=suite.cost),
        )


class SamplerSet:
    """The suite's samplers this machine can provide; one that it cannot is disabled with one message."""

    def __init__(self, specs: list[SamplerSpec], say: Callable[[str], None]) -> None:
        self.specs = specs
        self.say = say
        self._warned: set[str] = set()

    def create(self, context: SamplerContext, idle_only: bool = False) -> list[Sampler]:
        samplers = []
        for spec in self.specs:
            cls = sampler_class(spec.name)
            if idle_only and not cls.idle_power:
                continue
            ok, why = cls.available()
            if not ok:
                if spec.name not in self._warned:
                    self._warned.add(spec.name)
                    self.say(f"sampler {spec.name} disabled: {why}")
                continue
            samplers.append(cls.for_point(context, spec.interval_ms, dict(spec.options)))
        return samplers


@dataclass
class PointMeasurement:
    """What one point produced, and facts for its ``describe`` (sampler notes, energy source, idle power)."""

    result: PointResult
    facts: dict[str, Any] = field(default_factory=dict)


def _idle_power(samplers: SamplerSet, context: SamplerContext, idle_s: float) -> dict[str, float]:
    """Idle power of the energy sources, with the model loaded and nothing running, for net energy."""
    if idle_s <= 0:
        return {}
    running = samplers.create(context, idle_only=True)
    if not running:
        return {}
    for s in running:
        s.start()
    time.sleep(idle_s)
    return idle_power_w([s.stop() for s in running])


def _window(worker: EngineProcess, point: Point, repetition: int, deadline: float) -> WindowReply:
    reply = worker.request(
        WindowRequest(workload=point.workload, warmup=repetition < 0, repetition=repetition),
        timeout_s=deadline - time.monotonic(),
        limit_s=point.timeout_s,
    )
    assert isinstance(reply, WindowReply)
    return reply


def check_window(records: list[RequestRecord], repetition: int) -> None:
    """Raise ``WorkerFailure`` when a window's records cannot be stored as a measurement: data that cannot be true
    (an adapter's bug: negative latency, tokens out of order), or no request succeeded (nothing was measured; the
    first error is the cause)."""
    why = first_impossible(records)
    if why is not None:
        raise WorkerFailure(f"impossible data in repetition {repetition}: {why}")
    if records and not any(r.ok for r in records):
        first = next((r.error for r in records if r.error), None) or "no request produced a token"
        first = " ".join(first.split())  # one line: a server's error page may span several
        raise WorkerFailure(f"all {len(records)} requests of repetition {repetition} failed; first error: {first}")


def _repetition_figures(
    point: Point,
    reply: WindowReply,
    timelines: list[Timeline],
    slo: WindowSLO,
    describe: dict[str, Any],
    idle_w: dict[str, float],
    hardware: HardwareSettings,
) -> tuple[Figures, dict[str, Any]]:
    figures: Figures = dict(window_metrics(reply.records, slo, offline_batches=point.workload.kind != "serving"))
    figures.update(reply.memory)
    figures.update(reply.figures)  # serving: offered rate, server-side metric deltas
    if describe.get("weights_bytes"):
        figures["weights_bytes"] = float(describe["weights_bytes"])
    figures.update(describe.get("fidelity", {}))
    measured, info = measured_figures(timelines, reply.records, idle_w)
    figures.update(measured)
    efficiency, why = hardware_figures(point, reply.records, figures, describe, hardware, slo)
    figures.update(efficiency)
    return figures, {"energy": info, "efficiency": why}


def measure_point(
    point: Point,
    worker: EngineProcess,
    clock: RunClock,
    settings: MeasureSettings,
    samplers: SamplerSet,
    describe: dict[str, Any],
    deadline: float,
) -> PointMeasurement:
    """Warmup then repetitions of ``point`` on ``worker``; raises ``WorkerFailure`` when the worker fails."""
    context = SamplerContext(
        clock=clock,
        target_pid=worker.pid,
        visible_gpus=point.engine.visible_gpus,
        country_iso_code=settings.country_iso_code,
    )
    slo = WindowSLO(**settings.slo.model_dump())
    result = PointResult(point.point_id)
    idle_w = _idle_power(samplers, context, settings.idle_s)
    for _ in range(point.warmup):
        _window(worker, point, -1, deadline)
    per_rep: list[Figures] = []
    info: dict[str, Any] = {}
    for rep in range(point.repetitions):
        running = samplers.create(context)
        for s in running:
            s.start()
        try:
            reply = _window(worker, point, rep, deadline)
        finally:
            timelines = [s.stop() for s in running]
        check_window(reply.records, rep)
        result.requests += [(rep, r) for r in reply.records]
        result.timelines += [(rep, tl) for tl in timelines]
        figures, info = _repetition_figures(point, reply, timelines, slo, describe, idle_w, settings.hardware)
        per_rep.append(figures)
        result.summaries += [(rep, k, v, None, None) for k, v in figures.items()]
    for metric, (median, low, high) in aggregate_repetitions(per_rep, seed=0).items():
        result.summaries.append((AGGREGATE, metric, median, low, high))
    sampler_notes = {
        tl.sampler: {"missing": tl.missing, "error": tl.error} for _, tl in result.timelines if tl.missing or tl.error
    }
    return PointMeasurement(result, {"samplers": sampler_notes, **info, "idle_power_w": idle_w})
