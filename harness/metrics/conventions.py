"""ITL and TPOT under each peer tool's convention (METRICS.md, "Peer conventions"), beside the harness's own.

One request with token-bearing chunks at c_0 < c_1 < … < c_m carrying k_0, …, k_m tokens (n_out = Σ k_i), scheduled
at t_s; gaps g_i = c_i − c_(i−1) for i ≥ 1. Samples of every request are pooled, then p50/p90/p99/mean are taken:

- ``vllm`` (vllm bench serve): ITL = one sample g_i per chunk, whatever k_i; TPOT = (c_m − c_0) / (n_out − 1) per
  request. Both equal the harness's own ``itl_ms`` / ``tpot_ms``.
- ``aiperf`` (AIPerf / GenAI-Perf's chunked ITL): ITL = one sample g_i / k_i per chunk (chunks of k_i = 0 skipped);
  TPOT = (c_m − c_0) / (n_out − 1) per request (what AIPerf calls its inter-token latency).
- ``sglang`` (sglang.bench_serving): ITL = g_i / k_i repeated k_i times (one sample per token, so a chunk of many
  tokens weighs by its tokens); TPOT = (c_m − c_0) / (n_out − 1) per request.
- ``guidellm``: per-request averages only: ITL = (c_m − c_0) / (n_out − 1); TPOT = (c_m − t_s) / n_out (the first
  token's wait included).

A request needs n_out ≥ 2 and c_m > c_0 for a TPOT/per-request ITL (as the harness's TPOT); GuideLLM's TPOT needs
n_out ≥ 1. Token counts are the record's ``chunk_tokens`` (which the load generator makes sum to n_out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.metrics.peer_figures import CONVENTION_SERIES, CONVENTION_STATS, PEERS
from harness.metrics.units import NS_PER_MS
from harness.records import RequestRecord


def convention_samples(r: RequestRecord) -> dict[str, list[float]]:
    """The ITL and TPOT samples (ms) one successful request contributes under each convention, keyed
    ``itl_<peer>_ms`` / ``tpot_<peer>_ms``; a failed request contributes none."""
    out: dict[str, list[float]] = {name: [] for name in CONVENTION_SERIES}
    if not r.ok:
        return out
    times, tokens = r.chunk_times_ns, r.chunk_tokens
    n_out = r.n_out if r.n_out is not None else sum(tokens)
    for i in range(1, len(times)):
        gap = (times[i] - times[i - 1]) / NS_PER_MS
        k = tokens[i] if i < len(tokens) else 1
        out["itl_vllm_ms"].append(gap)
        if k > 0:
            out["itl_aiperf_ms"].append(gap / k)
            out["itl_sglang_ms"] += [gap / k] * k
    decode_ms = (times[-1] - times[0]) / NS_PER_MS if times else 0.0
    if n_out >= 2 and decode_ms > 0:
        per_token = decode_ms / (n_out - 1)
        for peer in PEERS:
            out[f"tpot_{peer}_ms"].append(per_token)
        out["itl_guidellm_ms"].append(per_token)
    if n_out >= 1 and times:
        out["tpot_guidellm_ms"] = [(times[-1] - r.t_sched_ns) / NS_PER_MS / n_out]
    return out


def convention_metrics(records: Sequence[RequestRecord]) -> dict[str, float | None]:
    """``<series>_<stat>`` for every series of ``convention_samples``, pooled over the window's requests."""
    pooled: dict[str, list[float]] = {name: [] for name in CONVENTION_SERIES}
    for r in records:
        for name, values in convention_samples(r).items():
            pooled[name].extend(values)
    out: dict[str, float | None] = {}
    for name, values in pooled.items():
        data = np.asarray(values, dtype=float)
        for stat in CONVENTION_STATS:
            if data.size == 0:
                out[f"{name}_{stat}"] = None
            elif stat == "mean":
                out[f"{name}_{stat}"] = float(data.mean())
            else:
                out[f"{name}_{stat}"] = float(np.percentile(data, float(stat[1:])))
    return out


def usage_mismatch_ratio(records: Sequence[RequestRecord]) -> float | None:
    """Share of successful requests, among those with both a server count of generated tokens (``n_out_source``
    ``usage``) and the client tokenizer's count of the reply's text (``n_out_client``), where the two differ. None
    when no request has both."""
    both = [r for r in records if r.ok and r.n_out_source == "usage" and r.n_out_client is not None]
    if not both:
        return None
    return sum(1 for r in both if r.n_out_client != r.n_out) / len(both)
