"""Arrival patterns: when each request of a serving point is scheduled, seeded and bounded.

An open-loop schedule is a list of offsets (ns from the start of the window) fixed before the first request is sent,
so the client's own slowness cannot move it (no coordinated omission). Closed-loop concurrency has no schedule: each
of ``concurrency`` users sends its next request when the previous one ends (t_sched = t_send).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.files import FileRefused, read_regular

Arrival = Literal["concurrency", "constant", "poisson", "burst", "trace"]
ARRIVALS: tuple[str, ...] = ("concurrency", "constant", "poisson", "burst", "trace")
MAX_TRACE_BYTES = 256 << 20  # a million requests are ~60 MiB of JSONL
MAX_TRACE_S = 1e7  # a trace's timestamps (115 days)
MAX_TRACE_TOKENS = 1_048_576  # as workload.input_tokens / output_tokens


class ArrivalError(ValueError):
    """Bad arrival parameters or trace file; one line naming the field or the file and line."""


@dataclass(frozen=True)
class TraceEntry:
    t_ns: int
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class Schedule:
    """``offsets_ns[i]`` is request i's scheduled time after the start; None for closed loop (``concurrency``)."""

    offsets_ns: list[int] | None
    concurrency: int | None = None
    num_requests: int = 0
    input_tokens: list[int | None] = field(default_factory=list)
    output_tokens: list[int | None] = field(default_factory=list)
    dropped: int = 0  # requests the duration bound cut off


def _seconds(value: Any, key: str, where: str) -> float:
    """A trace timestamp in seconds (``timestamp_ms`` in milliseconds): finite, 0 to ``MAX_TRACE_S``."""
    scale = 1e-3 if key == "timestamp_ms" else 1.0
    try:
        t = float(value) * scale if not isinstance(value, bool) and isinstance(value, int | float | str) else math.nan
    except ValueError:
        t = math.nan
    if not (math.isfinite(t) and 0 <= t <= MAX_TRACE_S):
        raise ArrivalError(
            f"{where}: {key} must be a number of {'ms' if scale < 1 else 's'} from 0 to "
            f"{MAX_TRACE_S / scale:,.0f}, got {value!r}"
        )
    return t


def _count(value: Any, key: str, where: str) -> int | None:
    if value is None:
        return None
    try:
        n = float(value) if not isinstance(value, bool) and isinstance(value, int | float | str) else math.nan
    except ValueError:
        n = math.nan
    if not (n.is_integer() and 1 <= n <= MAX_TRACE_TOKENS):
        raise ArrivalError(f"{where}: {key} must be a whole number from 1 to {MAX_TRACE_TOKENS}, got {value!r}")
    return int(n)


def _trace_entry(line: str, where: str) -> TraceEntry:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ArrivalError(f"{where}: bad trace line (not JSON): {str(exc)[:200]}") from None
    if not isinstance(obj, dict) or not ("timestamp" in obj or "timestamp_ms" in obj):
        raise ArrivalError(f"{where}: bad trace line: need an object with timestamp seconds or timestamp_ms")
    key = "timestamp_ms" if "timestamp_ms" in obj else "timestamp"
    t = _seconds(obj[key], key, where)
    n_in = obj.get("input_tokens", obj.get("input_length"))
    n_out = obj.get("output_tokens", obj.get("output_length"))
    return TraceEntry(int(t * 1e9), _count(n_in, "input_tokens", where), _count(n_out, "output_tokens", where))


def load_trace(path: str | Path) -> list[TraceEntry]:
    """A JSONL trace: one object per line with ``timestamp`` (seconds, or ``timestamp_ms``), and optionally
    ``input_tokens``/``output_tokens`` (``input_length``/``output_length`` accepted). Sorted by time; the first
    request is at offset 0. The file must be a regular file of at most ``MAX_TRACE_BYTES`` of UTF-8 text;
    timestamps are finite seconds from 0 to ``MAX_TRACE_S``, token counts whole numbers from 1 to
    ``MAX_TRACE_TOKENS``."""
    path = Path(path)
    try:
        text = read_regular(path, MAX_TRACE_BYTES).decode("utf-8")
    except FileRefused as exc:
        raise ArrivalError(f"{path}: cannot read trace: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ArrivalError(f"{path}: not a JSONL trace: byte {exc.start} is not UTF-8 text") from None
    entries = [_trace_entry(line, f"{path}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not entries:
        raise ArrivalError(f"{path}: the trace holds no request")
    entries.sort(key=lambda e: e.t_ns)
    t0 = entries[0].t_ns
    return [TraceEntry(e.t_ns - t0, e.input_tokens, e.output_tokens) for e in entries]


def build_schedule(
    arrival: str,
    num_requests: int,
    *,
    rate: float | None = None,
    concurrency: int | None = None,
    burst_size: int = 1,
    duration_s: float | None = None,
    seed: int = 0,
    trace: str | Path | None = None,
) -> Schedule:
    """The schedule of one window.

    - ``constant``: request i at i / rate.
    - ``poisson``: exponential gaps of mean 1 / rate, from ``numpy.random.default_rng(seed)``.
    - ``burst``: ``burst_size`` requests at once, bursts every burst_size / rate (the same mean rate).
    - ``trace``: the trace's timestamps (and its lengths), scaled to ``rate`` requests/s when a rate is given.
    - ``concurrency``: closed loop, ``concurrency`` users, ``num_requests`` in all.

    ``num_requests`` bounds the count; ``duration_s`` drops requests scheduled at or after it (counted in
    ``dropped``).
    """
    if num_requests < 1:
        raise ArrivalError(f"num_requests must be >= 1, got {num_requests}")
    if arrival == "concurrency":
        if not concurrency or concurrency < 1:
            raise ArrivalError("arrival concurrency needs concurrency >= 1")
        return Schedule(
            None,
            concurrency=concurrency,
            num_requests=num_requests,
            input_tokens=[None] * num_requests,
            output_tokens=[None] * num_requests,
        )
    n_in: list[int | None] = [None] * num_requests
    n_out: list[int | None] = [None] * num_requests
    if arrival == "trace":
        if trace is None:
            raise ArrivalError("arrival trace needs a trace file")
        entries = load_trace(trace)[:num_requests]
        times = np.array([e.t_ns for e in entries], dtype=float)
        if rate:
            natural = (len(entries) - 1) / (times[-1] / 1e9) if len(entries) > 1 and times[-1] > 0 else None
            if natural:
                times *= natural / rate
        n_in = [e.input_tokens for e in entries]
        n_out = [e.output_tokens for e in entries]
    else:
        if not rate or rate <= 0:
            raise ArrivalError(f"arrival {arrival} needs rate > 0 (requests/s)")
        idx = np.arange(num_requests, dtype=float)
        if arrival == "constant":
            times = idx / rate * 1e9
        elif arrival == "poisson":
            gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=num_requests)
            gaps[0] = 0.0
            times = np.cumsum(gaps) * 1e9
        elif arrival == "burst":
            if burst_size < 1:
                raise ArrivalError(f"burst_size must be >= 1, got {burst_size}")
            times = np.floor(idx / burst_size) * (burst_size / rate) * 1e9
        else:
            raise ArrivalError(f"unknown arrival {arrival!r}; known: {', '.join(ARRIVALS)}")
    offsets = [int(t) for t in times]
    dropped = 0
    if duration_s is not None:
        keep = sum(1 for t in offsets if t < duration_s * 1e9)
        dropped = len(offsets) - keep
        offsets, n_in, n_out = offsets[:keep], n_in[:keep], n_out[:keep]
    return Schedule(offsets, num_requests=len(offsets), input_tokens=n_in, output_tokens=n_out, dropped=dropped)
