"""Samplers record timelines (power, memory, utilisation) beside the engine on the run's clock."""

from __future__ import annotations

from harness.measure.samplers.base import Sampler
from harness.plugins import Registry

SAMPLERS = Registry(
    "harness.samplers",
    "sampler",
    {
        "psutil": "harness.measure.samplers.psutil_sampler:PsutilSampler",
        "nvml": "harness.measure.samplers.nvml:NvmlSampler",
        "rapl": "harness.measure.samplers.rapl:RaplSampler",
        "codecarbon": "harness.measure.samplers.codecarbon_sampler:CodecarbonSampler",
    },
)


def sampler_class(name: str) -> type[Sampler]:
    cls: type[Sampler] = SAMPLERS.load(name)
    return cls
