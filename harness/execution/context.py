"""What every part of one run's execution shares: the run, its clock, settings, samplers, where results go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.execution.measure import MeasureSettings, SamplerSet
from harness.execution.reporter import NullReporter, Reporter
from harness.execution.stored import StoredPoint
from harness.records import RunClock

Metrics = dict[str, float | None]


@dataclass
class ExecutionContext:
    run_id: str
    settings: MeasureSettings
    sink: Callable[[StoredPoint], None]  # writes a measured point (atomically) and counts it
    log_dir: Path = Path("results/logs")
    clock: RunClock = field(default_factory=RunClock)  # one clock per run, shared by every point
    reporter: Reporter = field(default_factory=NullReporter)
    done: dict[str, Metrics] = field(default_factory=dict)  # --resume: points stored ok earlier, with their medians
    reused: int = 0  # points found in ``done`` instead of measured
    samplers: SamplerSet = field(init=False)

    def __post_init__(self) -> None:
        self.samplers = SamplerSet(self.settings.samplers, lambda text: self.reporter.message(text, "warning"))
