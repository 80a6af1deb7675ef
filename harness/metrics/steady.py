"""The steady-state window of a serving window (METRICS.md, "Steady state"): throughput and latency with the ramp-up
and the drain left out.

The rule: the steady window runs from the **first completion** (min t_end over every request that has one) to the
**last send** (max t_send over every request sent).

- Before the first completion the system is filling: an open loop of rate λ and service time W holds λ·t requests
  at time t < W and λ·W afterwards (Little's law), so by the first completion (t ≈ W) the in-flight count has reached
  its stationary level; a closed loop of C users holds C from its C-th send, but its first C requests start together
  and their prefill burst is over only when they finish.
- After the last send nothing new arrives: the in-flight count only falls, and what completes then is the drain,
  which a short run's whole-window throughput divides by its length.

Within ``(t_a, t_b]`` (half-open, so the completion that opens it is not counted in it):

- ``steady_window_s`` = t_b − t_a; ``steady_start_s`` / ``steady_end_s`` = t_a / t_b − min t_sched (where the window
  lies inside the whole window, for the report's timeline).
- ``steady_output_throughput_tok_s`` = tokens of successful requests' chunks that arrived in (t_a, t_b] /
  steady_window_s (each chunk's tokens at its arrival: a token rate, not a completion rate).
- ``steady_request_throughput_req_s`` = successful requests whose t_end lies in (t_a, t_b] / steady_window_s.
- ``steady_request_count`` = requests (failed included) whose t_sched lies in [t_a, t_b]; latency distributions
  ``steady_<series>_<stat>`` for ttft/tpot/itl/e2e over the successful ones of them (requests sent while the load was
  established).

t_b ≤ t_a (every request went out before the first came back: a burst, or a run shorter than one request) has no
steady state, nor has a steady window shorter than ``MIN_SHARE`` of the whole (max t_end − min t_sched): a closed
loop of C users and 2·C requests of equal length sends its second round the moment the first completes, and a rate
over a millisecond is noise. Then every steady figure is None and ``steady_request_count`` is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.metrics.catalogue import DISTRIBUTION_STATS
from harness.metrics.peer_figures import STEADY_SERIES
from harness.metrics.request import request_metrics
from harness.metrics.stats import distribution
from harness.metrics.units import NS_PER_S
from harness.records import RequestRecord

MIN_SHARE = 0.1


def steady_bounds(records: Sequence[RequestRecord]) -> tuple[int, int] | None:
    """(t_a, t_b) on the run clock, or None when the window has no steady state (module docstring)."""
    ends = [r.t_end_ns for r in records if r.t_end_ns is not None]
    if not ends or not records:
        return None
    t_a, t_b = min(ends), max(r.t_send_ns for r in records)
    whole = max(ends) - min(r.t_sched_ns for r in records)
    return (t_a, t_b) if t_b > t_a and t_b - t_a >= MIN_SHARE * whole else None


def steady_metrics(records: Sequence[RequestRecord]) -> dict[str, float | None]:
    """The ``steady_*`` figures of one window (module docstring)."""
    names = [f"steady_{s}_{stat}" for s in STEADY_SERIES for stat in DISTRIBUTION_STATS]
    out: dict[str, float | None] = dict.fromkeys(
        [
            "steady_window_s",
            "steady_start_s",
            "steady_end_s",
            "steady_output_throughput_tok_s",
            "steady_request_throughput_req_s",
            *names,
        ]
    )
    out["steady_request_count"] = 0.0
    bounds = steady_bounds(records)
    if bounds is None:
        return out
    t_a, t_b = bounds
    span_s = (t_b - t_a) / NS_PER_S
    t0 = min(r.t_sched_ns for r in records)
    done = [r for r in records if r.ok]
    tokens = sum(k for r in done for t, k in zip(r.chunk_times_ns, r.chunk_tokens, strict=False) if t_a < t <= t_b)
    completed = sum(1 for r in done if r.t_end_ns is not None and t_a < r.t_end_ns <= t_b)
    sent = [r for r in records if t_a <= r.t_sched_ns <= t_b]
    metrics = [m for m in (request_metrics(r) for r in sent) if m is not None]
    series: dict[str, list[float]] = {
        "ttft_ms": [m.ttft_ms for m in metrics],
        "tpot_ms": [m.tpot_ms for m in metrics if m.tpot_ms is not None],
        "itl_ms": [g for m in metrics for g in m.itl_ms],
        "e2e_ms": [m.e2e_ms for m in metrics],
    }
    out.update(
        {
            "steady_window_s": span_s,
            "steady_start_s": (t_a - t0) / NS_PER_S,
            "steady_end_s": (t_b - t0) / NS_PER_S,
            "steady_output_throughput_tok_s": tokens / span_s,
            "steady_request_throughput_req_s": completed / span_s,
            "steady_request_count": float(len(sent)),
        }
    )
    for name in STEADY_SERIES:
        for stat, value in distribution(series[name]).items():
            out[f"steady_{name}_{stat}"] = value
    return out
