"""``harness predict``: each point's idealized prefill time, decode throughput and memory from the model's config
and the device's peaks alone — no engine, no weights (a directory holding only ``config.json`` is enough).

The peaks are this machine's calibration (or its spec entry), or, with ``--hardware``, any device of the spec
table. The same formulas produce the ``*_ideal_*`` figures a measured point stores, so after a run the report
puts each prediction beside what was measured.
"""

from __future__ import annotations

from typing import Any

from harness.hardware.basis import HardwareSettings, PointBasis, n_matmul, point_basis
from harness.hardware.peaks import Peaks, compute_dtype
from harness.hardware.prices import device_price
from harness.hardware.specs import DeviceSpec
from harness.metrics import efficiency as eff
from harness.plan.points import Point


def spec_peaks(spec: DeviceSpec, dtype: str | None) -> Peaks:
    """Peaks of a spec-table device (hardware the user may not have)."""
    peaks = Peaks(device_name=spec.name, compute_dtype=dtype, spec=spec, memory_bytes=spec.memory_bytes)
    peaks.bytes_s, peaks.bytes_source = spec.bandwidth_bytes_s, "spec"
    if dtype in spec.flops:
        peaks.flops_s, peaks.flops_source = spec.flops[dtype], "spec"
    else:
        peaks.reasons.append(f"the spec table has no {dtype} FLOP/s for {spec.name}")
    if spec.memory_bytes is None:
        peaks.reasons.append(f"the spec table has no memory capacity for {spec.name} (a CPU: the host's RAM)")
    return peaks


def _batch(point: Point) -> int:
    w = point.workload
    return int(getattr(w, "batch_size", None) or getattr(w, "concurrency", None) or 1)


def _phases(basis: PointBasis, point: Point) -> dict[str, Any]:
    """Idealized time, bound and intensity of one batch's prefill and decode."""
    shape, peaks = basis.shape, basis.peaks
    assert shape is not None and basis.weights_read is not None and basis.embedding_row is not None
    assert basis.kv_token is not None
    n, batch = n_matmul(basis), _batch(point)
    n_in, n_out = point.workload.input_tokens, point.workload.output_tokens
    work = {
        "prefill": (
            eff.prefill_flops(n, shape.n_layers, n_in, shape.d_attn, batch),
            eff.prefill_bytes(basis.weights_read, basis.embedding_row, basis.kv_token, n_in, batch),
        ),
        "decode": (
            eff.decode_flops(n, shape.n_layers, n_in, n_out, shape.d_attn, batch),
            eff.decode_bytes(basis.weights_read, basis.embedding_row, basis.kv_token, n_in, n_out, batch),
        ),
    }
    out: dict[str, Any] = {}
    for phase, (flops, moved) in work.items():
        out[f"{phase}_flops"], out[f"{phase}_bytes"] = flops, moved
        out[f"{phase}_intensity_flop_per_byte"] = eff.arithmetic_intensity(flops, moved)
        if peaks.flops_s and peaks.bytes_s and moved > 0:
            ideal = eff.idealized_runtime_s(flops, moved, peaks.flops_s, peaks.bytes_s)
            out[f"{phase}_ideal_ms"] = ideal * 1e3
            out[f"{phase}_bound"] = eff.binding_resource(flops, moved, peaks.flops_s, peaks.bytes_s)
    decode_ms = out.get("decode_ideal_ms")
    if decode_ms and n_out > 1:
        out["decode_ideal_tok_s"] = batch * (n_out - 1) / (decode_ms / 1e3)
        out["tpot_ideal_ms"] = decode_ms / (n_out - 1)
    return out


def _memory_and_cost(basis: PointBasis, point: Point, phases: dict[str, Any]) -> dict[str, Any]:
    assert basis.kv_token is not None and basis.weights_stored is not None
    batch, w = _batch(point), point.workload
    context = w.input_tokens + w.output_tokens
    out: dict[str, Any] = {
        "weights_bytes": basis.weights_stored,
        "kv_bytes_per_token": basis.kv_token,
        "mem_predicted_bytes": basis.weights_stored + basis.kv_token * context * batch,
    }
    if basis.peaks.memory_bytes:
        out["max_batch_fit"] = eff.max_batch_fit(
            basis.peaks.memory_bytes, basis.weights_stored, basis.kv_token * context
        )
        out["fits"] = out["mem_predicted_bytes"] <= basis.peaks.memory_bytes
    seconds = (phases.get("prefill_ideal_ms") or 0) / 1e3 + (phases.get("decode_ideal_ms") or 0) / 1e3
    if basis.price.usd is not None and seconds > 0:
        hour = basis.price.usd * basis.devices
        out["usd_per_mtok_output_ideal"] = hour * seconds / 3600 / (batch * w.output_tokens) * 1e6
    return out


def predict_point(point: Point, hw: HardwareSettings, spec: DeviceSpec | None = None) -> dict[str, Any]:
    """One point's prediction, as a flat JSON-able dict; ``missing`` says what could not be predicted and why."""
    basis = point_basis(point.engine, {}, hw)
    if spec is not None:
        dtype = compute_dtype(point.engine.adapter, point.engine.dtype, point.engine.quantization)
        basis.missing = [m for m in basis.missing if not m.startswith("no price")]
        basis.peaks = spec_peaks(spec, dtype)
        basis.price = device_price(point.engine.adapter, spec.name, spec.name, hw.cost, hw.usd_per_hour)
        if basis.price.usd is None:
            basis.missing.append(basis.price.source)
    row: dict[str, Any] = {
        "point": point.index,
        "point_id": point.point_id,
        "label": point.label(),
        "model": point.engine.model,
        "hardware": basis.peaks.device_name or point.engine.device,
        "peak_source": basis.peaks.peak_source,
        "compute_dtype": basis.peaks.compute_dtype,
        "peak_flops_s": basis.peaks.flops_s,
        "peak_bytes_s": basis.peaks.bytes_s,
        "batch": _batch(point),
        "input_tokens": point.workload.input_tokens,
        "output_tokens": point.workload.output_tokens,
        "usd_per_device_hour": basis.price.usd,
        "price_source": basis.price.source,
    }
    ready = basis.shape is not None and basis.kv_token is not None and basis.weights_read is not None
    if ready:
        row["params"] = eff.stored_params(basis.shape)  # type: ignore[arg-type]
        phases = _phases(basis, point)
        row.update(phases)
        row.update(_memory_and_cost(basis, point, phases))
    row["missing"] = basis.missing + basis.peaks.reasons
    return row


def predict(points: list[Point], hw: HardwareSettings, spec: DeviceSpec | None = None) -> list[dict[str, Any]]:
    return [predict_point(p, hw, spec) for p in points]
