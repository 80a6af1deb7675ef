"""Samplers record timelines (power, memory, utilisation) beside the engine on the run's clock."""

from __future__ import annotations

from importlib import import_module

from harness.measure.samplers.base import Sampler

# name → "module:Class"; imported on use so a missing optional library only matters to suites that ask for it
SAMPLERS: dict[str, str] = {
    "psutil": "harness.measure.samplers.psutil_sampler:PsutilSampler",
    "nvml": "harness.measure.samplers.nvml:NvmlSampler",
    "rapl": "harness.measure.samplers.rapl:RaplSampler",
    "codecarbon": "harness.measure.samplers.codecarbon_sampler:CodecarbonSampler",
}


def sampler_class(name: str) -> type[Sampler]:
    if name not in SAMPLERS:
        raise KeyError(f"unknown sampler {name!r}; known samplers: {', '.join(sorted(SAMPLERS))}")
    module, _, cls = SAMPLERS[name].partition(":")
    return getattr(import_module(module), cls)
