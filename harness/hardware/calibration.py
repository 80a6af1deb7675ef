"""``harness calibrate``'s library side: run the microbenchmarks on one device, take each figure's median with its
bootstrap 95% CI, and describe the device by the environment fingerprint so later runs on it find the result.

A calibration is stored in the results store (``Store.save_calibration``) under a device key: the GPU's UUID
(from NVML, as in the fingerprint), or the CPU model and host name. A run looks its devices up by that key
(``harness.hardware.peaks``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness import __version__
from harness.hardware.benches import Skip, Timer, cpu_benches, gpu_benches, run_bench
from harness.hints import needs
from harness.metrics.stats import bootstrap_median_ci


class CalibrationError(Exception):
    """Calibration cannot run here (no torch, an unknown or absent device); the message says why."""


class Figure(BaseModel):
    """One measured peak: the median of the repetitions with its bootstrap 95% CI."""

    value: float
    ci_low: float
    ci_high: float
    unit: str
    repetitions: int


class Calibration(BaseModel):
    """What ``harness calibrate`` measured on one device."""

    device: str
    kind: Literal["gpu", "cpu"]
    device_name: str
    device_key: str
    memory_bytes: float | None = None
    created_at: float = Field(default_factory=time.time)
    harness_version: str = __version__
    torch_version: str | None = None
    figures: dict[str, Figure] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict, description="benchmark → why it did not run")
    threads: int | None = None

    def value(self, figure: str) -> float | None:
        found = self.figures.get(figure)
        return found.value if found is not None else None


def physical_gpu(fingerprint: dict[str, Any], device: str, visible: str | None) -> dict[str, Any] | None:
    """The fingerprint's entry (NVML: name, uuid, memory) for the GPU that ``device`` (``cuda`` / ``cuda:N``)
    means when ``visible`` (``visible_gpus`` or CUDA_VISIBLE_DEVICES: indices or UUIDs) restricts what a process
    sees; None when NVML listed nothing."""
    gpus = fingerprint.get("gpus") or []
    ordinal = int(device.partition(":")[2] or 0)
    entries = [v.strip() for v in visible.split(",") if v.strip()] if visible else None
    chosen = entries[ordinal] if entries and ordinal < len(entries) else None if entries else str(ordinal)
    for gpu in gpus:
        if chosen is not None and (str(gpu.get("index")) == chosen or str(gpu.get("uuid")) == chosen):
            return gpu
    return None


def device_key(fingerprint: dict[str, Any], device: str, visible: str | None = None) -> tuple[str, str]:
    """(key, device name) of ``device`` on the fingerprinted machine: ``gpu:<uuid>`` or ``cpu:<model>@<host>``."""
    if device.startswith("cuda"):
        gpu = physical_gpu(fingerprint, device, visible)
        if gpu is not None:
            return f"gpu:{gpu.get('uuid') or gpu.get('name')}", str(gpu.get("name"))
        return f"gpu:{device}@{fingerprint.get('hostname')}", ""
    cpu = str(fingerprint.get("cpu_model") or "cpu")
    return f"cpu:{cpu}@{fingerprint.get('hostname')}", cpu


def _torch_device(device: str) -> tuple[Any, Any]:
    try:
        import torch
    except ImportError:
        raise CalibrationError(needs("harness calibrate", "torch")) from None
    if device != "cpu" and not device.startswith("cuda"):
        raise CalibrationError(f"--device: unknown device {device!r}; use cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CalibrationError(f"--device {device}: torch sees no CUDA device here")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise CalibrationError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch, torch.device("cuda", index)
    return torch, torch.device("cpu")


def calibrate(
    device: str,
    fingerprint: dict[str, Any],
    repetitions: int = 10,
    say: Callable[[str], None] = lambda _: None,
    only: tuple[str, ...] = (),
) -> Calibration:
    """Run every benchmark of ``device`` (``only``: figures whose name starts with one of these) and return the
    calibration; a benchmark the device cannot run is listed in ``skipped`` with the reason."""
    torch, dev = _torch_device(device)
    key, name = device_key(fingerprint, device, os.environ.get("CUDA_VISIBLE_DEVICES"))
    gpu = dev.type == "cuda"
    memory: float | None
    if gpu:
        name = name or torch.cuda.get_device_name(dev)
        memory = float(torch.cuda.get_device_properties(dev).total_memory)
    else:
        memory = float(fingerprint.get("memory_total_bytes") or 0) or None
    cal = Calibration(
        device=device,
        kind="gpu" if gpu else "cpu",
        device_name=name,
        device_key=key,
        memory_bytes=memory,
        torch_version=torch.__version__,
        threads=None if gpu else torch.get_num_threads(),
    )
    timer = Timer(torch, dev)
    benches = gpu_benches(torch, dev) if gpu else cpu_benches(torch, dev)
    precision = torch.get_float32_matmul_precision()
    try:
        for bench in benches:
            if only and not bench.figure.startswith(only):
                continue
            say(f"calibrate {device}: {bench.figure}")
            try:
                values = run_bench(timer, bench, repetitions)
            except Skip as exc:
                cal.skipped[bench.figure] = str(exc)
                continue
            except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
                lines = str(exc).strip().splitlines()
                cal.skipped[bench.figure] = f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
                continue
            finally:
                if gpu:
                    torch.cuda.empty_cache()
            median, low, high = bootstrap_median_ci(values, seed=0)
            assert median is not None and low is not None and high is not None
            cal.figures[bench.figure] = Figure(
                value=median, ci_low=low, ci_high=high, unit=bench.unit, repetitions=len(values)
            )
    finally:
        torch.set_float32_matmul_precision(precision)
    return cal
