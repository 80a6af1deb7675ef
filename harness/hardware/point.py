"""A point's efficiency and cost figures for one repetition: what its batches did against the roofline of its
device, and what its tokens cost.

Offline batches have both phases on the clock (prefill = submission to the batch's first token, decode = first to
last token), so each phase gets achieved FLOP/s and bytes/s, MFU and MBU, its idealized runtime, measured ÷
idealized, the binding resource and the arithmetic intensity. A serving window mixes phases across requests:
it gets the window's achieved FLOP/s and MFU only (how a server batches its steps, and so the bytes it moves, is
not observed). Every window gets the KV-cache figures and the cost per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.hardware.basis import HardwareSettings, PointBasis, n_matmul, point_basis
from harness.metrics import cost as costs
from harness.metrics import efficiency as eff
from harness.metrics.units import NS_PER_S
from harness.metrics.window import WindowSLO
from harness.plan.points import Point
from harness.records import RequestRecord

Figures = dict[str, float | None]
PHASES = ("prefill", "decode")


def _batches(records: Sequence[RequestRecord]) -> list[dict[str, float]]:
    """Per offline batch: its size, lengths and the two phases' seconds (successful sequences only)."""
    grouped: dict[int, list[RequestRecord]] = {}
    for r in records:
        grouped.setdefault(r.batch_index, []).append(r)
    out = []
    for batch in grouped.values():
        done = [r for r in batch if r.ok]
        if not done:
            continue
        t_first = min(r.t_first_ns for r in done if r.t_first_ns is not None)
        t_end = max(r.t_end_ns for r in done if r.t_end_ns is not None)
        out.append(
            {
                "batch": float(len(done)),
                "n_in": float(max(r.n_in or 0 for r in done)),
                "n_out": float(max(r.n_out or 0 for r in done)),
                "prefill_s": (t_first - min(r.t_sched_ns for r in batch)) / NS_PER_S,
                "decode_s": (t_end - t_first) / NS_PER_S,
            }
        )
    return out


def _phase_work(basis: PointBasis, b: dict[str, float]) -> dict[str, tuple[float, float]]:
    """(FLOPs, bytes) of each phase of one batch."""
    shape = basis.shape
    assert shape is not None and basis.weights_read is not None
    assert basis.embedding_row is not None and basis.kv_token is not None
    n, batch, n_in, n_out = n_matmul(basis), int(b["batch"]), int(b["n_in"]), int(b["n_out"])
    return {
        "prefill": (
            eff.prefill_flops(n, shape.n_layers, n_in, shape.d_attn, batch),
            eff.prefill_bytes(basis.weights_read, basis.embedding_row, basis.kv_token, n_in, batch),
        ),
        "decode": (
            eff.decode_flops(n, shape.n_layers, n_in, n_out, shape.d_attn, batch),
            eff.decode_bytes(basis.weights_read, basis.embedding_row, basis.kv_token, n_in, n_out, batch),
        ),
    }


def phase_figures(basis: PointBasis, batches: list[dict[str, float]]) -> Figures:
    """Achieved rates, utilizations and the roofline of each phase over the window's batches."""
    peak_f, peak_b = basis.peaks.flops_s, basis.peaks.bytes_s
    out: Figures = {}
    totals = {p: [0.0, 0.0, 0.0] for p in PHASES}  # flops, bytes, seconds
    for b in batches:
        for phase, (flops, moved) in _phase_work(basis, b).items():
            t = totals[phase]
            t[0], t[1], t[2] = t[0] + flops, t[1] + moved, t[2] + b[f"{phase}_s"]
    for phase, (flops, moved, seconds) in totals.items():
        if seconds <= 0 or moved <= 0:
            continue
        out[f"{phase}_flops_s"], out[f"{phase}_bytes_s"] = flops / seconds, moved / seconds
        out[f"{phase}_intensity_flop_per_byte"] = eff.arithmetic_intensity(flops, moved)
        if peak_f:
            out[f"{phase}_mfu"] = eff.mfu(flops / seconds, peak_f)
        if peak_b:
            out[f"{phase}_mbu"] = eff.mbu(moved / seconds, peak_b)
        if peak_f and peak_b:
            ideal = eff.idealized_runtime_s(flops, moved, peak_f, peak_b)
            out[f"{phase}_ideal_ms"] = ideal / len(batches) * 1e3  # one batch, as prefill_ms_mean is
            out[f"{phase}_vs_ideal"] = eff.runtime_ratio(seconds, ideal)
            out[f"{phase}_pct_of_bound"] = eff.pct_of_bound(seconds, ideal)
            memory_bound = eff.binding_resource(flops, moved, peak_f, peak_b) == "memory"
            out[f"{phase}_memory_bound"] = 1.0 if memory_bound else 0.0
            if phase == "decode" and ideal > 0:
                out["decode_ideal_tok_s"] = sum(b["batch"] * max(b["n_out"] - 1, 0) for b in batches) / ideal
    return out


def memory_figures(basis: PointBasis, batch: int, context: int, measured_peak: float | None) -> Figures:
    """KV bytes per token and at this point, memory the model needs, and the largest batch that fits at this
    context (beside what the point measured besides its KV cache, when it measured a peak)."""
    if basis.kv_token is None or basis.weights_stored is None:
        return {}
    kv_point = basis.kv_token * context * batch
    predicted = basis.weights_stored + kv_point
    out: Figures = {"kv_bytes_per_token": basis.kv_token, "kv_cache_bytes": kv_point, "mem_predicted_bytes": predicted}
    fixed = basis.weights_stored
    if measured_peak:
        out["mem_overhead_bytes"] = measured_peak - predicted
        fixed = max(measured_peak - kv_point, basis.weights_stored)
    if basis.peaks.memory_bytes and context > 0:
        out["max_batch_fit"] = float(eff.max_batch_fit(basis.peaks.memory_bytes, fixed, basis.kv_token * context))
    return out


def cost_figures(basis: PointBasis, records: Sequence[RequestRecord], window: Figures, slo: WindowSLO) -> Figures:
    """USD per million tokens (output, input + output, output at goodput) and the energy's price."""
    out: Figures = {}
    window_s, n_out, n_in = window.get("window_s"), window.get("output_tokens_total"), window.get("input_tokens_total")
    energy = window.get("energy_j")
    if energy is not None and basis.kwh_price.usd is not None:
        out["energy_usd"] = costs.energy_usd(energy, basis.kwh_price.usd)
        if n_out:
            out["energy_usd_per_mtok_output"] = out["energy_usd"] / n_out * 1e6  # type: ignore[operator]
    if basis.price.usd is None or not window_s:
        return out
    usd, devices = basis.price.usd, basis.devices
    out["usd_per_hour"] = usd * devices
    out["usd_per_mtok_output"] = costs.usd_per_mtok(usd, devices, window_s, n_out or 0)
    out["usd_per_mtok_total"] = costs.usd_per_mtok(usd, devices, window_s, (n_out or 0) + (n_in or 0))
    out["usd_per_mtok_goodput"] = costs.usd_per_mtok(usd, devices, window_s, costs.slo_output_tokens(records, slo))
    return out


def _window_flops(basis: PointBasis, records: Sequence[RequestRecord], window_s: float | None) -> Figures:
    """Every successful request's FLOPs (its prefill and decode at batch 1) over the whole window."""
    shape = basis.shape
    if shape is None or not window_s:
        return {}
    n = n_matmul(basis)
    flops = sum(
        eff.prefill_flops(n, shape.n_layers, r.n_in or 0, shape.d_attn)
        + eff.decode_flops(n, shape.n_layers, r.n_in or 0, r.n_out or 0, shape.d_attn)
        for r in records
        if r.ok
    )
    out: Figures = {"window_flops_s": flops / window_s}
    if basis.peaks.flops_s:
        out["window_mfu"] = eff.mfu(flops / window_s, basis.peaks.flops_s)
    return out


def repetition_figures(
    basis: PointBasis, point: Point, records: Sequence[RequestRecord], window: Figures, slo: WindowSLO
) -> Figures:
    """Every efficiency and cost figure of one repetition (what is unknown is left out; ``basis.missing`` says
    why)."""
    out: Figures = {}
    if basis.peaks.flops_s:
        out["peak_flops_s"] = basis.peaks.flops_s
    if basis.peaks.bytes_s:
        out["peak_bytes_s"] = basis.peaks.bytes_s
    out.update(_window_flops(basis, records, window.get("window_s")))
    offline = point.workload.kind == "offline_batch"
    if basis.kv_token is not None and basis.weights_read is not None and offline:
        out.update(phase_figures(basis, _batches(records)))
    w = point.workload
    batch = getattr(w, "batch_size", None) or getattr(w, "concurrency", None) or 1
    measured = window.get("torch_cuda_max_allocated_bytes") or window.get("gpu_mem_peak_bytes")
    if point.engine.device == "cpu":
        measured = window.get("mem_peak_rss_bytes")
    out.update(memory_figures(basis, int(batch), w.input_tokens + w.output_tokens, measured))
    out.update(cost_figures(basis, records, window, slo))
    return {k: v for k, v in out.items() if v is not None}


def hardware_figures(
    point: Point,
    records: Sequence[RequestRecord],
    window: Figures,
    describe: dict[str, Any],
    settings: HardwareSettings,
    slo: WindowSLO,
) -> tuple[Figures, dict[str, Any]]:
    """One repetition's efficiency and cost figures, and what they rest on (peaks and their source, the model's
    parameters by role, the price, what was missing) for the point's ``describe``."""
    basis = point_basis(point.engine, describe, settings)
    return repetition_figures(basis, point, records, window, slo), basis.describe()
