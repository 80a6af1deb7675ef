"""What a point's efficiency and cost figures rest on, fixed for the whole point: the model's shape and stored
bytes, the KV cache's width, the device's peaks and the price of its hours.

Built once per point from the point's config, what its engine reported (``describe``: the model path it loaded,
its weights' bytes, the device's name) and the run's ``HardwareSettings`` (the store's calibrations, the
fingerprint, the suite's prices). ``harness predict`` builds the same basis with no engine at all. Anything
missing is a reason in ``missing``, and the figures that need it are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from harness.hardware.calibration import device_key, physical_gpu
from harness.hardware.model import ModelFacts, model_facts
from harness.hardware.peaks import Peaks, compute_dtype, resolve_peaks
from harness.hardware.prices import Price, device_price, energy_price
from harness.metrics.efficiency import ModelShape, kv_bytes_per_token, matmul_params, params_by_role, stored_params
from harness.plan.points import EngineConfig
from harness.plan.schema import CostSpec

DTYPE_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
# weight bytes per parameter of the quantized (linear) layers; group scales and zeros included
QUANT_BYTES = {"int8-weight-only": 1.0, "int8-dynamic": 1.0, "int4-weight-only": 0.5 + 4 / 64}
# llama.cpp: bytes per weight of each GGUF type (block bytes ÷ weights per block; the _M mixes keep some tensors at
# a wider type, so their width here is a lower bound). Used only before the file exists (harness predict).
GGUF_BYTES = {"none": 4.0, "f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q6_k": 210 / 256,
              "q5_k_m": 176 / 256, "q5_0": 22 / 32, "q4_k_m": 144 / 256, "q4_0": 18 / 32, "q3_k_m": 110 / 256,
              "q2_k": 84 / 256}  # fmt: skip
ATTACHED = ("openai",)  # servers reached by URL: their hardware is not this machine's
LLAMA_CPP_KV_BYTES = 2.0  # llama.cpp keeps K and V in f16 unless type_k/type_v say otherwise


class HardwareSettings(BaseModel):
    """What a run's efficiency and cost figures need besides the point (plain data, so it travels with the
    measurement settings): the machine's fingerprint, the store's calibrations, the suite's prices."""

    fingerprint: dict[str, Any] = Field(default_factory=dict)
    calibrations: list[dict[str, Any]] = Field(default_factory=list)
    cost: CostSpec = Field(default_factory=CostSpec)
    usd_per_hour: float | None = Field(default=None, description="--usd-per-hour: overrides every price")


@dataclass
class PointBasis:
    """One point's fixed facts: model, bytes, peaks (× devices), price. ``missing`` says what is not known."""

    facts: ModelFacts
    peaks: Peaks
    price: Price
    kwh_price: Price
    devices: int = 1
    weights_read: float | None = None  # bytes every forward pass reads: all stored weights but the embedding table
    weights_stored: float | None = None
    embedding_row: float | None = None
    kv_token: float | None = None  # KV bytes of one position, all layers
    missing: list[str] = field(default_factory=list)

    @property
    def shape(self) -> ModelShape | None:
        return self.facts.shape

    def describe(self) -> dict[str, Any]:
        """For the point's stored ``describe`` (what ``harness show`` and the report print as the reason)."""
        shape = self.shape
        out: dict[str, Any] = {
            "model": self.facts.describe(),
            "peaks": self.peaks.describe(),
            "peak_source": self.peaks.peak_source,
            "devices": self.devices,
            "price": {"usd_per_device_hour": self.price.usd, "source": self.price.source},
            "energy_price": {"usd_per_kwh": self.kwh_price.usd, "source": self.kwh_price.source},
            "missing": self.missing + self.peaks.reasons,
        }
        if shape is not None:
            out["params_by_role"] = params_by_role(shape)
            out["params_stored"] = stored_params(shape)
            out["bytes"] = {"weights_read": self.weights_read, "embedding_row": self.embedding_row,
                            "kv_per_token": self.kv_token}  # fmt: skip
        return out


def _devices(engine: EngineConfig) -> int:
    parallel = 1
    for name in ("tensor_parallel_size", "pipeline_parallel_size"):
        value = engine.args.get(name)
        if isinstance(value, int) and value > 1:
            parallel *= value
    if parallel > 1:
        return parallel
    visible = [v for v in (engine.visible_gpus or "").split(",") if v.strip()]
    return len(visible) if engine.device.startswith("cuda") and len(visible) > 1 else 1


def _weights(basis: PointBasis, engine: EngineConfig, dtype: str | None, measured: float | None) -> None:
    """Bytes read per forward pass and per embedding row: exact from a GGUF, else from the engine's measured
    weight bytes, else from the dtype's (and quantization's) width."""
    shape, facts = basis.shape, basis.facts
    assert shape is not None
    roles = params_by_role(shape)
    width = DTYPE_BYTES.get(str(dtype))
    embedding_table: float | None
    if facts.weights_bytes is not None and facts.embedding_bytes is not None:
        total, embedding_table = facts.weights_bytes, facts.embedding_bytes
    elif measured:
        total = measured
        # the embedding stays at the dtype's width (quantizers convert linear layers); else the mean width
        embedding_table = roles["embedding"] * (width or measured / stored_params(shape))
    elif engine.adapter.startswith("llama-cpp") and engine.quantization in GGUF_BYTES:
        basis.facts.notes.append(f"weights at {engine.quantization}'s block width (the GGUF does not exist yet)")
        embedding_table = roles["embedding"] * GGUF_BYTES[engine.quantization]
        total = stored_params(shape) * GGUF_BYTES[engine.quantization]
    elif width is not None:
        linear = QUANT_BYTES.get(engine.quantization, width)
        lm_head = 0 if shape.tied_embeddings else roles["lm_head"]
        embedding_table = roles["embedding"] * width
        total = embedding_table + (roles["attention"] + roles["mlp"] + lm_head) * linear
    else:
        basis.missing.append(f"the weights' stored width (dtype {dtype!r} unknown, no weight bytes reported)")
        return
    basis.weights_stored = total
    basis.weights_read = total - (0 if shape.tied_embeddings else embedding_table)
    basis.embedding_row = embedding_table / shape.vocab_size


def _kv(basis: PointBasis, engine: EngineConfig, dtype: str | None) -> None:
    shape = basis.shape
    assert shape is not None
    width = LLAMA_CPP_KV_BYTES if engine.adapter.startswith("llama-cpp") else DTYPE_BYTES.get(str(dtype))
    if engine.adapter.startswith("llama-cpp") and (engine.args.get("type_k") or engine.args.get("type_v")):
        basis.missing.append("the KV cache's width (type_k/type_v set: quantized KV is not modelled)")
        return
    if width is None:
        basis.missing.append(f"the KV cache's width (dtype {dtype!r} unknown)")
        return
    basis.kv_token = kv_bytes_per_token(shape.n_layers, shape.n_kv_heads, shape.head_dim, width)


def _peaks(engine: EngineConfig, describe: dict[str, Any], hw: HardwareSettings, dtype: str | None) -> Peaks:
    fp = hw.fingerprint
    cdtype = compute_dtype(engine.adapter, dtype, engine.quantization)
    if engine.adapter in ATTACHED:
        peaks = Peaks(device_name="", compute_dtype=cdtype)
        peaks.reasons.append("a server attached by URL: its hardware is not this machine's, no peaks apply")
        return peaks
    if engine.device.startswith("cuda"):
        visible = engine.visible_gpus or fp.get("cuda_visible_devices")
        key, name = device_key(fp, engine.device, visible)
        gpu = physical_gpu(fp, engine.device, visible)
        name = str(describe.get("device_name") or name) if engine.adapter == "hf" else name or "unknown GPU"
        memory = float(gpu["memory_total_bytes"]) if gpu and gpu.get("memory_total_bytes") else None
        return resolve_peaks("gpu", name, key, cdtype, hw.calibrations, memory)
    if engine.device == "cpu":
        key, name = device_key(fp, "cpu")
        memory = float(fp["memory_total_bytes"]) if fp.get("memory_total_bytes") else None
        return resolve_peaks("cpu", name, key, cdtype, hw.calibrations, memory, cpu_sockets())
    peaks = Peaks(device_name=engine.device, compute_dtype=cdtype)
    peaks.reasons.append(f"device {engine.device!r} is not modelled (cpu and cuda are)")
    return peaks


def cpu_sockets() -> int:
    """Distinct ``physical id`` lines of /proc/cpuinfo (1 when it has none)."""
    try:
        ids = {ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
               if ln.startswith("physical id")}  # fmt: skip
    except OSError:
        return 1
    return max(1, len(ids))


def point_basis(engine: EngineConfig, describe: dict[str, Any], hw: HardwareSettings) -> PointBasis:
    """The basis of a point's figures (``describe`` empty for a prediction: nothing was loaded)."""
    dtype = describe.get("dtype") if describe.get("dtype") in DTYPE_BYTES else engine.dtype
    facts = model_facts(engine.model, describe.get("model_path"), describe.get("gguf_file"))
    peaks = _peaks(engine, describe, hw, dtype)
    devices = _devices(engine)
    for attr in ("flops_s", "bytes_s", "memory_bytes"):
        value = getattr(peaks, attr)
        if value is not None and devices > 1:
            setattr(peaks, attr, value * devices)  # the point's devices together
    spec_name = peaks.spec.name if peaks.spec is not None else None
    price = device_price(engine.adapter, peaks.device_name or None, spec_name, hw.cost, hw.usd_per_hour)
    basis = PointBasis(facts=facts, peaks=peaks, price=price, kwh_price=energy_price(hw.cost), devices=devices)
    basis.missing += [f"the model config's {m}" for m in facts.missing]
    if facts.shape is not None:
        measured = describe.get("weights_bytes")
        _weights(basis, engine, dtype, float(measured) if measured else None)
        _kv(basis, engine, dtype)
    if price.usd is None:
        basis.missing.append(price.source)
    return basis


def n_matmul(basis: PointBasis) -> float:
    assert basis.shape is not None
    return float(matmul_params(basis.shape))
