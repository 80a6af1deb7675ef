"""One request (METRICS.md, "One request"): TTFT, E2E, TPOT, ITL and send lag of a successful request."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.metrics.units import NS_PER_MS
from harness.records import RequestRecord


@dataclass(frozen=True)
class RequestMetrics:
    """One successful request's latencies (ms).

    ``itl_ms[i]`` is the gap between token-bearing chunks i and i+1, and ``itl_tokens[i]`` the number of tokens the
    later chunk carried: a chunk of k tokens is one gap, not k.
    """

    ttft_ms: float
    e2e_ms: float
    tpot_ms: float | None
    itl_ms: list[float] = field(default_factory=list)
    itl_tokens: list[int] = field(default_factory=list)
    send_lag_ms: float = 0.0


def request_metrics(r: RequestRecord) -> RequestMetrics | None:
    """TTFT = t_first − t_sched, E2E = t_end − t_sched, send_lag = t_send − t_sched (all ms).

    Measured from the *scheduled* time, so a late client cannot hide server queueing (coordinated omission); closed
    loops record t_sched = t_send. TPOT = (E2E − TTFT) / (n_out − 1), None when n_out < 2 or unknown, and None when
    the first and last token-bearing chunks arrived together (t_end = t_first: a non-streamed reply shows no decode
    interval, and 0 ms would be a false figure). ITL: one gap per pair of successive token-bearing chunks.
    None for a failed request (see the module docstring).
    """
    if not r.ok:
        return None
    assert r.t_first_ns is not None and r.t_end_ns is not None
    ttft_ms = (r.t_first_ns - r.t_sched_ns) / NS_PER_MS
    e2e_ms = (r.t_end_ns - r.t_sched_ns) / NS_PER_MS
    tpot_ms = None
    if r.n_out is not None and r.n_out >= 2 and r.t_end_ns > r.t_first_ns:
        tpot_ms = (e2e_ms - ttft_ms) / (r.n_out - 1)
    times = r.chunk_times_ns
    itl_ms = [(b - a) / NS_PER_MS for a, b in zip(times, times[1:], strict=False)]
    itl_tokens = list(r.chunk_tokens[1 : len(times)]) if len(r.chunk_tokens) >= len(times) else []
    return RequestMetrics(
        ttft_ms=ttft_ms,
        e2e_ms=e2e_ms,
        tpot_ms=tpot_ms,
        itl_ms=itl_ms,
        itl_tokens=itl_tokens,
        send_lag_ms=(r.t_send_ns - r.t_sched_ns) / NS_PER_MS,
    )
