"""A measurement window (one point, one repetition) and an offline batch: throughput, goodput, distributions.

Success and failure, once for all functions: a request *succeeded* when ``RequestRecord.ok`` holds (no error, and a
first and a last token-bearing chunk were seen). Anything else — an error, a broken stream, a timeout, or a reply that
carried no generated token (it has no TTFT) — is *failed*. Failed requests are "sent": they count in
``request_count``, ``error_count``, the denominators of ``error_rate`` and ``slo_attainment``, and their scheduled
time opens the window; they never count in a latency distribution nor in a throughput numerator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.metrics.catalogue import LATENCY_SERIES
from harness.metrics.conventions import convention_metrics, usage_mismatch_ratio
from harness.metrics.request import RequestMetrics, request_metrics
from harness.metrics.stats import distribution
from harness.metrics.steady import steady_metrics
from harness.metrics.units import NS_PER_MS, NS_PER_S
from harness.records import RequestRecord


def batch_metrics(records: Sequence[RequestRecord]) -> dict[str, float | None]:
    """One offline batch (the records sharing one ``batch_index``).

    ``prefill_ms`` = the batch's TTFT: (min t_first over its successful sequences) − (min t_sched, the submission).
    ``decode_throughput_tok_s`` = batch × (n_out − 1) / (t_end − t_first). Sequences may stop at different lengths
    (EOS), so this is computed as Σ_i (n_out_i − 1) / (max_i t_end_i − min_i t_first_i) over the successful sequences,
    which equals the formula when all lengths are equal; None when no decode token was generated or the span is 0.
    Per-sequence TPOT is ``request_metrics``'s.
    """
    done = [r for r in records if r.ok]
    if not done:
        return {"prefill_ms": None, "decode_throughput_tok_s": None}
    t_submit = min(r.t_sched_ns for r in records)
    t_first = min(r.t_first_ns for r in done if r.t_first_ns is not None)
    t_end = max(r.t_end_ns for r in done if r.t_end_ns is not None)
    decode_tokens = sum(max((r.n_out or 0) - 1, 0) for r in done)
    span_ns = t_end - t_first
    return {
        "prefill_ms": (t_first - t_submit) / NS_PER_MS,
        "decode_throughput_tok_s": decode_tokens / (span_ns / NS_PER_S) if span_ns > 0 and decode_tokens else None,
    }


# ---------------------------------------------------------------- a measurement window


def _beside_the_window(records: Sequence[RequestRecord]) -> dict[str, float | None]:
    """The steady-state window's figures, ITL/TPOT under the peers' conventions, and the usage mismatch share."""
    return {
        **steady_metrics(records),
        **convention_metrics(records),
        "usage_mismatch_ratio": usage_mismatch_ratio(records),
    }


@dataclass(frozen=True)
class WindowSLO:
    """Service-level objectives; a limit left None is not checked. Limits are inclusive (≤)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, m: RequestMetrics | None) -> bool:
        """Every limit that is set must hold. A failed request (None) meets none. A TPOT limit is met by a request
        that has no TPOT (n_out < 2): it had no decode phase to be slow in."""
        if m is None:
            return False
        if self.ttft_ms is not None and m.ttft_ms > self.ttft_ms:
            return False
        if self.tpot_ms is not None and m.tpot_ms is not None and m.tpot_ms > self.tpot_ms:
            return False
        return not (self.e2e_ms is not None and m.e2e_ms > self.e2e_ms)


def window_metrics(
    records: Sequence[RequestRecord], slo: WindowSLO | None = None, offline_batches: bool = True
) -> dict[str, float | None]:
    """One sweep point, one repetition (warmup already excluded). Keys:

    - ``request_count`` (all requests sent, failed included), ``error_count`` (failed), ``error_rate`` =
      error_count / request_count.
    - ``window_s`` = max t_end − min t_sched: the start is the earliest *scheduled* time over all requests, failed
      ones included; the end is the latest t_end of any request that has one (a failed request whose stream broke
      after some tokens still extends it). No t_end anywhere → window_s None.
    - ``output_tokens_total`` / ``input_tokens_total`` = Σ n_out / Σ n_in over successful requests.
    - ``output_throughput_tok_s`` = Σ n_out / window_s; ``total_token_throughput_tok_s`` = Σ (n_in + n_out) /
      window_s; ``request_throughput_req_s`` = successful requests / window_s; ``goodput_req_s`` = successful
      requests meeting every SLO / window_s. Failed requests are absent from these numerators but their time is in
      the window. A throughput whose numerator is 0 is 0 whatever the window (a window whose every request failed
      served nothing: 0 req/s, not an unknown); a positive numerator over no window (or a zero one) is None.
    - ``slo_attainment`` = requests meeting every SLO / request_count (failed requests count as misses).
    - For each of ttft_ms, tpot_ms, itl_ms, e2e_ms, send_lag_ms over successful requests (ITL: every gap of every
      request, pooled): ``<name>_p50``, ``_p90``, ``_p95``, ``_p99``, ``_mean``, ``_std`` (population), ``_count``.
      ``arrival_lag_ms`` likewise: t_arrival − t_sched, the schedule lag judged by the server's own arrival stamp,
      over the successful requests whose server stamped one (``RequestRecord.t_arrival_ns``).
    - The steady-state window's ``steady_*`` figures (``harness.metrics.steady``), ITL and TPOT under the peers'
      conventions (``harness.metrics.conventions``) and ``usage_mismatch_ratio``.
    - ``tokens_per_chunk_mean``: mean tokens carried per token-bearing chunk (1.0 for token-by-token streams).
    - ``prefill_ms_mean`` and ``decode_throughput_tok_s``: ``batch_metrics`` per ``batch_index``, averaged over the
      batches that have a value. Only meaningful for offline batches: with ``offline_batches=False`` (server
      windows, where batch_index is not a batch) both are None.
    """
    slo = slo or WindowSLO()
    per_request = [(r, request_metrics(r)) for r in records]
    done = [(r, m) for r, m in per_request if m is not None]
    n_sent = len(records)
    good = sum(1 for _, m in done if slo.met(m))
    out: dict[str, float | None] = {
        "request_count": float(n_sent),
        "error_count": float(n_sent - len(done)),
        "error_rate": (n_sent - len(done)) / n_sent if n_sent else None,
    }
    ends = [r.t_end_ns for r in records if r.t_end_ns is not None]
    window_s = (max(ends) - min(r.t_sched_ns for r in records)) / NS_PER_S if ends else None
    n_out = sum(r.n_out or 0 for r, _ in done)
    n_in = sum(r.n_in or 0 for r, _ in done)

    def rate(x: float) -> float | None:
        if n_sent and x == 0:
            return 0.0
        return x / window_s if window_s is not None and window_s > 0 else None

    out.update(
        {
            "window_s": window_s,
            "output_tokens_total": float(n_out),
            "input_tokens_total": float(n_in),
            "output_throughput_tok_s": rate(n_out),
            "total_token_throughput_tok_s": rate(n_out + n_in),
            "request_throughput_req_s": rate(len(done)),
            "goodput_req_s": rate(good),
            "slo_attainment": good / n_sent if n_sent else None,
        }
    )
    series: dict[str, list[float]] = {
        "ttft_ms": [m.ttft_ms for _, m in done],
        "tpot_ms": [m.tpot_ms for _, m in done if m.tpot_ms is not None],
        "itl_ms": [gap for _, m in done for gap in m.itl_ms],
        "e2e_ms": [m.e2e_ms for _, m in done],
        "send_lag_ms": [m.send_lag_ms for _, m in done],
        "arrival_lag_ms": [(r.t_arrival_ns - r.t_sched_ns) / NS_PER_MS for r, _ in done if r.t_arrival_ns is not None],
    }
    for name in LATENCY_SERIES:
        for stat, value in distribution(series[name]).items():
            out[f"{name}_{stat}"] = value
    chunk_tokens = [t for r, _ in done for t in r.chunk_tokens]
    out["tokens_per_chunk_mean"] = float(np.mean(chunk_tokens)) if chunk_tokens else None
    out.update(_beside_the_window(records))
    out.update(_batch_means(records if offline_batches else []))
    return out


def _batch_means(records: Sequence[RequestRecord]) -> dict[str, float | None]:
    """``prefill_ms_mean`` and ``decode_throughput_tok_s``: ``batch_metrics`` per ``batch_index``, averaged over the
    batches that have a value (None for no records: a server window, whose batch_index is not a batch)."""
    prefill: list[float] = []
    decode: list[float] = []
    batches: dict[int, list[RequestRecord]] = {}
    for r in records:
        batches.setdefault(r.batch_index, []).append(r)
    for b in batches.values():
        bm = batch_metrics(b)
        if bm["prefill_ms"] is not None:
            prefill.append(bm["prefill_ms"])
        if bm["decode_throughput_tok_s"] is not None:
            decode.append(bm["decode_throughput_tok_s"])
    return {
        "prefill_ms_mean": float(np.mean(prefill)) if prefill else None,
        "decode_throughput_tok_s": float(np.mean(decode)) if decode else None,
    }
