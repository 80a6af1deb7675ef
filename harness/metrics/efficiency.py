"""Efficiency against hardware limits: FLOPs and bytes per phase, MFU/MBU, the idealized (roofline) runtime.

Not yet computed for stored points (the efficiency work wires them into every point); tested on hand computations.
"""

from __future__ import annotations


def flops_per_token(n_params: float, n_layers: int, context: int, d_model: int) -> float:
    """FLOPs for one token ≈ 2 × N_params (matmuls) + 2 × n_layers × context × d_model (attention over the
    ``context`` positions it attends to)."""
    return 2 * n_params + 2 * n_layers * context * d_model


def prefill_flops(n_params: float, n_layers: int, n_in: int, d_model: int) -> float:
    """Prefill counts every prompt token; prompt token i (1-based) attends to i positions:
    Σ_{i=1..n_in} flops_per_token(context=i) = 2·N·n_in + n_layers·d_model·n_in·(n_in + 1)."""
    return 2 * n_params * n_in + n_layers * d_model * n_in * (n_in + 1)


def decode_flops(n_params: float, n_layers: int, n_in: int, n_out: int, d_model: int) -> float:
    """The n_out − 1 decode steps after prefill (which produced the first token); step k attends to n_in + k
    positions: Σ_{k=1..n_out−1} flops_per_token(context=n_in + k)
    = 2·N·(n_out − 1) + 2·n_layers·d_model·((n_out − 1)·n_in + (n_out − 1)·n_out / 2)."""
    steps = max(n_out - 1, 0)
    return 2 * n_params * steps + 2 * n_layers * d_model * (steps * n_in + steps * (steps + 1) / 2)


def kv_cache_bytes(
    n_layers: int, n_kv_heads: int, head_dim: int, context: int, bytes_per_element: float, batch: int = 1
) -> float:
    """K and V for every layer and position: 2 × n_layers × n_kv_heads × head_dim × context × bytes × batch."""
    return 2 * n_layers * n_kv_heads * head_dim * context * bytes_per_element * batch


def bytes_per_decode_step(weight_bytes: float, kv_cache_bytes_read: float) -> float:
    """≈ weight bytes (at the quantized width) + KV-cache bytes read."""
    return weight_bytes + kv_cache_bytes_read


def mfu(achieved_flops_s: float, peak_flops_s: float) -> float:
    """Model FLOP/s utilization = achieved FLOP/s ÷ peak FLOP/s."""
    return achieved_flops_s / peak_flops_s


def mbu(achieved_bytes_s: float, peak_bytes_s: float) -> float:
    """Memory bandwidth utilization = achieved bytes/s ÷ peak bytes/s."""
    return achieved_bytes_s / peak_bytes_s


def idealized_runtime_s(flops: float, bytes_moved: float, peak_flops_s: float, peak_bytes_s: float) -> float:
    """The roofline bound of one phase: max(FLOPs / peak FLOP/s, bytes / peak bandwidth)."""
    return max(flops / peak_flops_s, bytes_moved / peak_bytes_s)


def runtime_ratio(measured_s: float, idealized_s: float) -> float | None:
    """Measured ÷ idealized runtime (≥ 1 when the peaks are true peaks); None for a zero bound."""
    return measured_s / idealized_s if idealized_s > 0 else None
