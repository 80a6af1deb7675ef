"""Workload figures (METRICS.md, "Workloads"): shared-prefix cache hit rates, multi-turn sessions, server KV cache.

- ``prefix_cache_hit_rate_expected`` = Σ_i cached_i / Σ_i n_in_i over the window's requests in send order, where
  cached_i = ⌊P / b⌋ · b (P prefix tokens, b the cache's block size) when request i's prefix group was sent before,
  else 0: an ideal cache that never evicts and a server that sees the requests one after the other. Concurrent
  first requests of one group, eviction, and a prompt that re-tokenizes across the prefix's end make a real server
  hit less; block-aligned suffix sharing (none here: suffixes are unique) would make it hit more.
- ``prefix_cache_hit_rate`` = Δ hits / Δ queries of the server's prefix-cache counters (vLLM:
  ``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total``, both in tokens) over the window.
- ``prefix_cache_hit_rate_usage`` = Σ cached tokens / Σ n_in over the successful requests whose reply reported
  cached tokens (OpenAI usage ``prompt_tokens_details.cached_tokens``, llama.cpp ``timings.cache_n``).
- Sessions: a session is the requests sharing ``RequestRecord.session``; it is *completed* when every one of its
  planned turns succeeded; its duration is max t_end − min t_sched of its requests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.metrics.request import request_metrics
from harness.metrics.units import NS_PER_S
from harness.records import RequestRecord

# name, unit, better, display, description: declared in the catalogue (harness.metrics.catalogue)
WORKLOAD_FIGURES: list[tuple[str, str, str, str, str]] = [
    (
        "prefix_cache_hit_rate_expected",
        "ratio",
        "none",
        "exp. hit",
        "ideal-cache share of prompt tokens prefixes cover",
    ),
    ("prefix_cache_hit_rate", "ratio", "higher", "hit rate", "Δ prefix-cache hits / Δ queries (server /metrics)"),
    (
        "prefix_cache_hit_rate_usage",
        "ratio",
        "higher",
        "hit (usage)",
        "Σ cached prompt tokens replies reported / Σ n_in",
    ),
    ("kv_cache_usage_peak_ratio", "ratio", "none", "KV peak", "peak KV-cache usage in the window (server /metrics)"),
    ("preemptions_count", "count", "lower", "preempt.", "the server's preemptions in the window"),
    ("session_count", "count", "none", "sessions", "sessions started in the window"),
    ("session_completed_count", "count", "none", "sessions ok", "sessions whose turns all succeeded"),
    ("session_turns_mean", "count", "none", "turns/session", "turns sent per session, mean"),
    *[
        (f"session_duration_s_{s}", "s", "lower", f"session s {s}", f"{s} of completed sessions' duration")
        for s in ("p50", "p90", "p99", "mean")
    ],
    *[
        (f"{series}_{s}", "ms", "lower", f"{label} {s}", f"{s} of {label}")
        for series, label in (("turn1_ttft_ms", "1st-turn TTFT"), ("later_turns_ttft_ms", "later-turn TTFT"))
        for s in ("p50", "p99", "mean")
    ],
]
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits")
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries")
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:cpu_cache_usage_perc")
PREEMPTIONS = ("vllm:num_preemptions_total", "vllm:num_preemptions")


def expected_prefix_hit_rate(
    groups: Sequence[int], prefix_tokens: int, prompt_tokens: Sequence[int], block_tokens: int = 1
) -> float | None:
    """Ideal-cache hit rate of a shared-prefix window (module docstring); None without prompt tokens."""
    total = sum(prompt_tokens)
    if total <= 0:
        return None
    cacheable = (prefix_tokens // block_tokens) * block_tokens
    seen: set[int] = set()
    hits = 0
    for g in groups:
        if g in seen:
            hits += cacheable
        seen.add(g)
    return hits / total


def _first(values: dict[str, float], names: Sequence[str]) -> float | None:
    for name in names:
        if name in values:
            return values[name]
    return None


def counter_rate(before: dict[str, float], after: dict[str, float]) -> float | None:
    """Δ hits / Δ queries of the prefix-cache counters; None when the server has none or served no query."""
    h0, h1 = _first(before, PREFIX_HITS), _first(after, PREFIX_HITS)
    q0, q1 = _first(before, PREFIX_QUERIES), _first(after, PREFIX_QUERIES)
    if None in (h0, h1, q0, q1):
        return None
    dq = q1 - q0  # type: ignore[operator]
    dh = h1 - h0  # type: ignore[operator]
    return dh / dq if dq > 0 and dh >= 0 else None


def usage_hit_rate(records: Sequence[RequestRecord]) -> float | None:
    reported = [r for r in records if r.ok and r.n_cached is not None and r.n_in]
    total = sum(r.n_in or 0 for r in reported)
    return sum(r.n_cached or 0 for r in reported) / total if total else None


def preemptions(before: dict[str, float], after: dict[str, float]) -> float | None:
    a, b = _first(before, PREEMPTIONS), _first(after, PREEMPTIONS)
    return b - a if a is not None and b is not None and b >= a else None


def _stats(prefix: str, values: list[float], stats: Sequence[int] = (50, 90, 99)) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        f"{prefix}_p{q}": float(np.percentile(values, q)) if values else None for q in stats
    }
    out[f"{prefix}_mean"] = float(np.mean(values)) if values else None
    return out


def session_metrics(records: Sequence[RequestRecord], planned_turns: dict[int, int]) -> dict[str, float | None]:
    """Per-session figures of a multi-turn window (``planned_turns``: session → turns it was to have).

    ``session_count``, ``session_completed_count``, ``session_turns_mean`` (turns sent per session),
    ``session_duration_s_*`` (completed sessions), and TTFT of first turns (``turn1_ttft_ms_*``, prompts without
    history) beside later turns' (``later_turns_ttft_ms_*``, prompts carrying the whole conversation so far).
    """
    by_session: dict[int, list[RequestRecord]] = {}
    for r in records:
        if r.session is not None:
            by_session.setdefault(r.session, []).append(r)
    completed = [
        rs for s, rs in by_session.items() if len(rs) == planned_turns.get(s, len(rs)) and all(r.ok for r in rs)
    ]
    durations = [
        (max(r.t_end_ns or 0 for r in rs) - min(r.t_sched_ns for r in rs)) / NS_PER_S for rs in completed if rs
    ]
    first: list[float] = []
    later: list[float] = []
    for r in records:
        m = request_metrics(r)
        if m is not None and r.turn is not None:
            (first if r.turn == 0 else later).append(m.ttft_ms)
    out: dict[str, float | None] = {
        "session_count": float(len(planned_turns) or len(by_session)),
        "session_completed_count": float(len(completed)),
        "session_turns_mean": float(np.mean([len(rs) for rs in by_session.values()])) if by_session else None,
    }
    out.update(_stats("session_duration_s", durations))
    out.update(_stats("turn1_ttft_ms", first, (50, 99)))
    out.update(_stats("later_turns_ttft_ms", later, (50, 99)))
    return out
