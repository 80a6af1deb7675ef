"""CO2e through codecarbon's offline tracker (no network), with the country from the suite.

codecarbon measures the GPU through NVML and the CPU through RAPL when it can; otherwise it *estimates* the CPU from
its TDP and load, and RAM from its size. The estimate is recorded as such (``co2e_is_estimate``), never as a
measurement.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from harness.hints import install_hint
from harness.measure.samplers.base import Sampler, Window
from harness.records import RunClock, Timeline

MEASURED_CPU_MODES = {"intel_rapl", "intel_power_gadget", "apple_powermetrics"}


class CodecarbonSampler(Sampler):
    name: ClassVar[str] = "codecarbon"
    context_fields: ClassVar[tuple[str, ...]] = ("country_iso_code",)
    figures: ClassVar[tuple[str, ...]] = ("co2e_kg", "co2e_estimate_kg")

    @classmethod
    def summarize(cls, timeline: Timeline, window: Window) -> tuple[dict[str, float | None], dict[str, Any]]:
        """codecarbon's CO2e, named ``co2e_estimate_kg`` when its CPU figure was a TDP estimate."""
        if not timeline.values.get("co2e_kg"):
            return {}, {}
        estimate = bool(timeline.meta.get("co2e_is_estimate", True))
        value = timeline.values["co2e_kg"][-1]
        return {"co2e_estimate_kg" if estimate else "co2e_kg": value}, {"codecarbon": timeline.meta}

    def __init__(
        self,
        clock: RunClock,
        interval_ms: float = 1000.0,
        target_pid: int | None = None,
        country_iso_code: str = "USA",
        **options: Any,
    ) -> None:
        super().__init__(clock, interval_ms, target_pid, **options)
        self.country = country_iso_code

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import codecarbon  # noqa: F401
        except ImportError:
            return False, f"codecarbon is not installed ({install_hint('codecarbon')})"
        return True, ""

    def start(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._t0 = self.clock.now_ns()
        self.tracker = OfflineEmissionsTracker(
            country_iso_code=self.country,
            measure_power_secs=max(self.interval_ns / 1e9, 0.1),
            save_to_file=False,
            log_level="error",
        )
        self.tracker.start()

    def stop(self) -> Timeline:
        timeline = Timeline(sampler=self.name)
        try:
            emissions_kg = self.tracker.stop()
        except Exception as exc:
            timeline.error = f"codecarbon failed: {exc}"
            return timeline
        data = self.tracker.final_emissions_data
        modes = {type(h).__name__: getattr(h, "_mode", None) for h in getattr(self.tracker, "_hardware", [])}
        cpu_measured = modes.get("CPU") in MEASURED_CPU_MODES
        timeline.t_ns = [self._t0, self.clock.now_ns()]
        timeline.values = {
            "co2e_kg": [0.0, float(emissions_kg or 0.0)],
            "energy_kwh": [0.0, float(getattr(data, "energy_consumed", 0.0) or 0.0)],
        }
        timeline.meta = {
            "country_iso_code": self.country,
            "hardware_modes": modes,
            "cpu_energy_source": "measured (RAPL)" if cpu_measured else "estimate (TDP × load)",
            "ram_energy_source": "estimate (size-based)",
            "gpu_energy_source": "measured (NVML)" if "GPU" in modes else "none",
            "co2e_is_estimate": not cpu_measured,
            "cpu_model": getattr(data, "cpu_model", None),
            "gpu_model": getattr(data, "gpu_model", None),
        }
        return timeline
