"""Plain records that cross process and module boundaries: what an engine observed, on the run's clock.

All times are integer nanoseconds since the run's start (``RunClock``), so request events and sampler timelines
from different processes can be compared directly.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field


class RunClock:
    """The run's one monotonic clock. ``time.monotonic_ns`` is system-wide, so worker processes share it."""

    def __init__(self, origin_ns: int | None = None) -> None:
        self.origin_ns = time.monotonic_ns() if origin_ns is None else origin_ns

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.origin_ns


class RequestRecord(BaseModel):
    """One request (or one sequence of an offline batch) and its events.

    ``chunk_times_ns[i]`` is the arrival of the i-th token-bearing chunk, carrying ``chunk_tokens[i]`` tokens.
    ``t_first_ns`` is ``chunk_times_ns[0]`` and ``t_end_ns`` is ``chunk_times_ns[-1]`` when the request succeeded.
    """

    index: int
    batch_index: int = 0
    t_sched_ns: int
    t_send_ns: int
    t_first_ns: int | None = None
    t_end_ns: int | None = None
    chunk_times_ns: list[int] = Field(default_factory=list)
    chunk_tokens: list[int] = Field(default_factory=list)
    n_in: int | None = None
    n_out: int | None = None
    n_in_source: str = "engine_token_ids"
    n_out_source: str = "engine_token_ids"
    error: str | None = None
    session: int | None = None  # multi-turn workloads: the session this request is a turn of
    turn: int | None = None  # its turn in the session, from 0
    n_cached: int | None = None  # prompt tokens the server reported serving from its prefix cache
    n_out_client: int | None = None  # the client tokenizer's count of the reply's text (beside a server's n_out)
    t_arrival_ns: int | None = None  # when the server says the request arrived (run clock; servers that stamp it)

    @property
    def ok(self) -> bool:
        return self.error is None and self.t_first_ns is not None and self.t_end_ns is not None


def impossible(r: RequestRecord) -> str | None:
    """Why ``r``'s data cannot be true (an adapter's bug), or None. Failed requests are checked too: their times
    open and close the window."""
    where = f"request {r.index}"
    if r.t_send_ns < r.t_sched_ns:
        return f"{where}: sent before it was scheduled (t_send {r.t_send_ns} < t_sched {r.t_sched_ns} ns)"
    times = r.chunk_times_ns
    if times and times[0] < r.t_sched_ns:
        return f"{where}: a token arrived before the request was scheduled (negative latency)"
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        return f"{where}: token times out of order"
    if r.t_first_ns is not None and r.t_first_ns < r.t_sched_ns:
        return f"{where}: negative TTFT ({(r.t_first_ns - r.t_sched_ns) / 1e6:g} ms)"
    if r.t_end_ns is not None and r.t_end_ns < r.t_sched_ns:
        return f"{where}: negative E2E latency ({(r.t_end_ns - r.t_sched_ns) / 1e6:g} ms)"
    if r.t_first_ns is not None and r.t_end_ns is not None and r.t_end_ns < r.t_first_ns:
        return f"{where}: TTFT > E2E (last token before the first)"
    if times and r.t_first_ns is not None and r.t_first_ns > times[0]:
        return f"{where}: t_first after the first token-bearing chunk"
    if times and r.t_end_ns is not None and r.t_end_ns < times[-1]:
        return f"{where}: t_end before the last token-bearing chunk"
    for name in ("n_in", "n_out", "n_cached"):
        value = getattr(r, name)
        if value is not None and value < 0:
            return f"{where}: negative {name} ({value})"
    if any(t < 0 for t in r.chunk_tokens):
        return f"{where}: a chunk carried a negative number of tokens"
    return None


def first_impossible(records: list[RequestRecord]) -> str | None:
    """The first reason any of ``records`` cannot be true, or None."""
    for r in records:
        why = impossible(r)
        if why is not None:
            return why
    return None


class Timeline(BaseModel):
    """What one sampler recorded: ``values[field][i]`` was read at ``t_ns[i]``.

    A field the source cannot provide is listed in ``missing`` once, with the reason, instead of failing per sample.
    """

    sampler: str
    t_ns: list[int] = Field(default_factory=list)
    values: dict[str, list[float | None]] = Field(default_factory=dict)
    missing: dict[str, str] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
