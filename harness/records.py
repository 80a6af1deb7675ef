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
