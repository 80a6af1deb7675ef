"""The peaks a point is measured against: its device's calibration when the store has one, else the spec table,
else none (with the reason). Which was used is the point's ``peak_source``.

The FLOP/s peak is the one of the point's compute dtype (bf16 weights compute in bf16; ``int8-dynamic`` and
quantized GGUFs in int8; float32 in plain fp32, as torch leaves TF32 off by default). The bandwidth peak is the
calibrated device copy (GPU) or the best STREAM-like kernel (CPU), else the published figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.hardware.specs import DeviceSpec, find_spec

DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}
INT8_QUANTIZATIONS = ("int8-dynamic",)
CPU_BANDWIDTH_FIGURES = ("stream_copy_bytes_s", "stream_triad_bytes_s", "stream_read_bytes_s")


@dataclass
class Peaks:
    """A device's peaks for one compute dtype, where each came from, and why a missing one is missing."""

    device_name: str
    compute_dtype: str | None
    flops_s: float | None = None
    bytes_s: float | None = None
    memory_bytes: float | None = None
    flops_source: str | None = None  # "calibrated" or "spec"
    bytes_source: str | None = None
    spec: DeviceSpec | None = None
    calibration: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def peak_source(self) -> str | None:
        """``calibrated`` or ``spec`` (both peaks from there), ``calibrated+spec`` when mixed, None with none."""
        sources = {s for s in (self.flops_source, self.bytes_source) if s}
        return "+".join(sorted(sources)) if sources else None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "device_name": self.device_name,
            "compute_dtype": self.compute_dtype,
            "peak_source": self.peak_source,
            "peak_flops_s": self.flops_s,
            "peak_bytes_s": self.bytes_s,
            "memory_bytes": self.memory_bytes,
        }
        if self.calibration is not None:
            out["calibration"] = {k: self.calibration.get(k) for k in ("id", "device_key", "created_at")}
        if self.spec is not None and "spec" in (self.peak_source or ""):
            out["spec"] = {"name": self.spec.name, "source": self.spec.source}
        if self.reasons:
            out["reasons"] = self.reasons
        return out


def compute_dtype(adapter: str, dtype: str | None, quantization: str) -> str | None:
    """The dtype a point's matrix products run in (None when the harness cannot tell)."""
    if quantization in INT8_QUANTIZATIONS:
        return "int8"
    if adapter.startswith("llama-cpp"):
        # llama.cpp multiplies quantized blocks with int8 dot products; float GGUFs compute in fp32
        return "fp32" if quantization in ("none", "f32", "f16", "bf16") else "int8"
    return DTYPES.get(str(dtype))


def _pick_calibration(calibrations: list[dict[str, Any]], key: str, name: str) -> tuple[dict[str, Any] | None, str]:
    """The newest calibration of this device, else the newest of a device with the same name (noted)."""
    exact = [c for c in calibrations if c.get("device_key") == key]
    if exact:
        return exact[0], ""
    same = [c for c in calibrations if name and c.get("device_name") == name]
    if same:
        return same[0], f"calibrated on another device of the same name ({same[0].get('device_key')})"
    return None, ""


def _calibrated(cal: dict[str, Any], kind: str, dtype: str | None) -> tuple[float | None, float | None]:
    figures = cal.get("figures") or {}

    def value(name: str) -> float | None:
        found = figures.get(name)
        return float(found["value"]) if found else None

    flops = value(f"gemm_{dtype}_flops_s") if dtype else None
    if kind == "gpu":
        return flops, value("copy_bytes_s")
    found = [v for v in (value(f) for f in CPU_BANDWIDTH_FIGURES) if v is not None]
    return flops, max(found) if found else None


def resolve_peaks(
    kind: str,
    device_name: str,
    key: str,
    dtype: str | None,
    calibrations: list[dict[str, Any]],
    memory_bytes: float | None = None,
    sockets: int = 1,
) -> Peaks:
    """Peaks of one device (``kind`` gpu/cpu) for compute ``dtype``: calibration first, then the spec table."""
    peaks = Peaks(device_name=device_name, compute_dtype=dtype, memory_bytes=memory_bytes)
    if dtype is None:
        peaks.reasons.append("compute dtype unknown: no FLOP/s peak applies")
    cal, note = _pick_calibration(calibrations, key, device_name)
    if cal is not None:
        peaks.calibration = cal
        if note:
            peaks.reasons.append(note)
        flops, bw = _calibrated(cal, kind, dtype)
        if flops is not None:
            peaks.flops_s, peaks.flops_source = flops, "calibrated"
        if bw is not None:
            peaks.bytes_s, peaks.bytes_source = bw, "calibrated"
        peaks.memory_bytes = peaks.memory_bytes or cal.get("memory_bytes")
    spec = find_spec(device_name)
    peaks.spec = spec
    if spec is not None:
        if peaks.flops_s is None and dtype in spec.flops:
            peaks.flops_s, peaks.flops_source = spec.flops[dtype], "spec"
        if peaks.bytes_s is None:
            peaks.bytes_s = spec.bandwidth_bytes_s * (sockets if spec.per_socket else 1)
            peaks.bytes_source = "spec"
        peaks.memory_bytes = peaks.memory_bytes or spec.memory_bytes
    where = f"{device_name or kind!r}"
    fix = "run `harness calibrate" + (" --device cpu`" if kind == "cpu" else "`") + " on this machine"
    if peaks.flops_s is None and dtype is not None:
        peaks.reasons.append(
            f"no {dtype} FLOP/s peak for {where}: not calibrated in this store"
            + (", and the spec table has none for it" if spec is not None else ", and not in the spec table")
            + f"; {fix}"
        )
    if peaks.bytes_s is None:
        peaks.reasons.append(f"no memory bandwidth peak for {where}: not calibrated, not in the spec table; {fix}")
    return peaks
