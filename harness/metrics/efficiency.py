"""Efficiency against hardware limits (METRICS.md): parameters by role, FLOPs and bytes per phase, MFU/MBU, the
idealized (roofline) runtime, the binding resource and how many sequences fit in memory.

Pure arithmetic over a model's shape (``ModelShape``, built from its config by ``harness.hardware.model``) and
measured times; every formula is tested against a hand computation (tests/test_efficiency_formulas.py).

Conventions, once for all functions:

- A *matmul parameter* is one weight of a matrix product the forward pass runs for every token: the attention
  projections (Q and O with ``n_heads``, K and V with ``n_kv_heads``: GQA), the MLP matrices and the lm_head. The
  embedding table is a lookup (no FLOPs, one row read per token); a tied lm_head is stored once (bytes) but its
  matmul still runs (FLOPs). Norm weights are elementwise and left out.
- FLOPs per token at context ``c`` = 2 × matmul parameters + 4 × n_layers × c × d_attn (QKᵀ and A·V, each
  2 × c × d_attn, where d_attn = n_heads × head_dim). Prefill: prompt position i (1-based) attends to i positions;
  decode step k (1..n_out − 1, after the prefill produced the first token) attends to n_in + k.
- Bytes are the fewest a phase must move through device memory: every weight read once per forward pass at its
  stored width, the embedding rows of its tokens, the KV cache it reads and the KV it writes. Activations are
  left out (they stay in caches or are small beside weights and KV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Resource = Literal["compute", "memory"]


@dataclass(frozen=True)
class ModelShape:
    """What the cost model needs of a decoder-only transformer (from its HF config or GGUF metadata)."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    tied_embeddings: bool
    gated_mlp: bool = True  # SwiGLU-style gate, up and down matrices; False: up and down only (GPT-2, OPT)

    @property
    def d_attn(self) -> int:
        """Width of the query heads together (n_heads × head_dim): what QKᵀ and A·V run over."""
        return self.n_heads * self.head_dim

    @property
    def d_kv(self) -> int:
        """Width of the key (or value) heads together (n_kv_heads × head_dim)."""
        return self.n_kv_heads * self.head_dim


def params_by_role(shape: ModelShape) -> dict[str, int]:
    """Parameters of each role. ``lm_head`` is the output matrix whether or not it shares the embedding's storage
    (see ``stored_params``)."""
    attention = shape.d_model * shape.d_attn * 2 + shape.d_model * shape.d_kv * 2  # Q, O + K, V
    mlp = (3 if shape.gated_mlp else 2) * shape.d_model * shape.d_ff
    return {
        "embedding": shape.vocab_size * shape.d_model,
        "attention": shape.n_layers * attention,
        "mlp": shape.n_layers * mlp,
        "lm_head": shape.vocab_size * shape.d_model,
    }


def matmul_params(shape: ModelShape) -> int:
    """Weights of the matrix products every token runs: attention + MLP + lm_head (tied or not)."""
    roles = params_by_role(shape)
    return roles["attention"] + roles["mlp"] + roles["lm_head"]


def stored_params(shape: ModelShape) -> int:
    """Parameters held in memory: a tied lm_head is the embedding table, counted once."""
    roles = params_by_role(shape)
    return sum(roles.values()) - (roles["lm_head"] if shape.tied_embeddings else 0)


def flops_per_token(n_matmul_params: float, n_layers: int, context: int, d_attn: int) -> float:
    """FLOPs of one token attending to ``context`` positions: 2 × matmul parameters + 4 × n_layers × context ×
    d_attn (QKᵀ and A·V)."""
    return 2 * n_matmul_params + 4 * n_layers * context * d_attn


def prefill_flops(n_matmul_params: float, n_layers: int, n_in: int, d_attn: int, batch: int = 1) -> float:
    """Σ over prompt positions i = 1..n_in of flops_per_token(context=i), × batch
    = batch × (2·N·n_in + 2·n_layers·d_attn·n_in·(n_in + 1))."""
    return batch * (2 * n_matmul_params * n_in + 2 * n_layers * d_attn * n_in * (n_in + 1))


def decode_flops(n_matmul_params: float, n_layers: int, n_in: int, n_out: int, d_attn: int, batch: int = 1) -> float:
    """The n_out − 1 decode steps after prefill; step k attends to n_in + k positions:
    batch × Σ_{k=1..S} flops_per_token(n_in + k) = batch × (2·N·S + 4·n_layers·d_attn·(S·n_in + S(S + 1)/2)),
    S = n_out − 1."""
    steps = max(n_out - 1, 0)
    return batch * (2 * n_matmul_params * steps + 4 * n_layers * d_attn * (steps * n_in + steps * (steps + 1) / 2))


def kv_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int, bytes_per_element: float) -> float:
    """K and V of one position in every layer: 2 × n_layers × n_kv_heads × head_dim × bytes."""
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_element


def kv_cache_bytes(
    n_layers: int, n_kv_heads: int, head_dim: int, context: int, bytes_per_element: float, batch: int = 1
) -> float:
    """K and V for every layer and position: 2 × n_layers × n_kv_heads × head_dim × context × bytes × batch."""
    return kv_bytes_per_token(n_layers, n_kv_heads, head_dim, bytes_per_element) * context * batch


def prefill_bytes(weights_read: float, embedding_row: float, kv_token: float, n_in: int, batch: int = 1) -> float:
    """One prefill forward: every weight once (``weights_read``: all stored weights but the embedding table), the
    embedding row of each prompt token, and the KV it writes: weights + batch × n_in × (row + kv_token)."""
    return weights_read + batch * n_in * (embedding_row + kv_token)


def decode_bytes(
    weights_read: float, embedding_row: float, kv_token: float, n_in: int, n_out: int, batch: int = 1
) -> float:
    """The n_out − 1 decode steps: per step every weight once, one embedding row per sequence, the KV cache read
    over the n_in + k positions step k attends to, and one position of KV written per sequence:
    S·weights + batch·S·row + batch·kv_token·(S·n_in + S(S + 1)/2) + batch·S·kv_token, S = n_out − 1."""
    steps = max(n_out - 1, 0)
    kv_read = batch * kv_token * (steps * n_in + steps * (steps + 1) / 2)
    return steps * weights_read + batch * steps * embedding_row + kv_read + batch * steps * kv_token


def bytes_per_decode_step(
    weight_bytes: float, kv_cache_bytes_read: float, kv_bytes_written: float = 0.0, embedding_rows: float = 0.0
) -> float:
    """One decode step: weights (at their stored width) + KV-cache bytes read + KV written + embedding rows."""
    return weight_bytes + kv_cache_bytes_read + kv_bytes_written + embedding_rows


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


def pct_of_bound(measured_s: float, idealized_s: float) -> float | None:
    """How close a phase came to its roofline: 100 × idealized ÷ measured (100 % = at the bound); None for a
    zero measured time."""
    return 100 * idealized_s / measured_s if measured_s > 0 else None


def arithmetic_intensity(flops: float, bytes_moved: float) -> float | None:
    """FLOPs per byte moved; None when nothing moves."""
    return flops / bytes_moved if bytes_moved > 0 else None


def binding_resource(flops: float, bytes_moved: float, peak_flops_s: float, peak_bytes_s: float) -> Resource:
    """Which roof bounds the phase: memory when moving the bytes takes longer than the arithmetic (the phase's
    intensity is below the ridge point peak FLOP/s ÷ peak bandwidth), else compute."""
    return "memory" if bytes_moved / peak_bytes_s > flops / peak_flops_s else "compute"


def max_batch_fit(capacity_bytes: float, fixed_bytes: float, kv_bytes_per_sequence: float) -> int:
    """The largest batch whose KV cache fits beside ``fixed_bytes`` (weights and whatever else does not grow
    with the batch): ⌊(capacity − fixed) / KV bytes of one sequence⌋, 0 when not even one fits."""
    if kv_bytes_per_sequence <= 0:
        raise ValueError("kv_bytes_per_sequence must be > 0")
    return max(0, math.floor((capacity_bytes - fixed_bytes) / kv_bytes_per_sequence))
