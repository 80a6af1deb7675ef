"""Every formula of METRICS.md (the metric definitions), as pure functions over recorded events and timelines.

Times come in integer nanoseconds on the run clock; every figure leaves with its unit in its name (``_ms``, ``_s``,
``_tok_s``, ``_j``, ``_w``). Nothing here imports an engine library, torch or a sampler: numpy only, so each formula is
tested on a hand-computed example (tests/test_metrics.py) and samplers, the runner and reports all call these.

Sections follow METRICS.md: one request, offline batch, a measurement window, across repetitions, power and energy,
efficiency against hardware limits, quantization.

Success and failure, once for all functions: a request *succeeded* when ``RequestRecord.ok`` holds (no error, and a
first and a last token-bearing chunk were seen). Anything else — an error, a broken stream, a timeout, or a reply that
carried no generated token (it has no TTFT) — is *failed*. Failed requests are "sent": they count in
``request_count``, ``error_count``, the denominators of ``error_rate`` and ``slo_attainment``, and their scheduled
time opens the window; they never count in a latency distribution nor in a throughput numerator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.records import RequestRecord

NS_PER_MS = 1e6
NS_PER_S = 1e9
PERCENTILES = (50, 90, 95, 99)
LATENCY_SERIES = ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "send_lag_ms")
MIN_BOOTSTRAP_RESAMPLES = 1000
# Hopper's ordinary power reading is a ~1 s moving average: integrated over a shorter window it undercounts.
LOW_CONFIDENCE_WINDOW_S = 1.0


# ---------------------------------------------------------------- one request


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
    itl_tokens = list(r.chunk_tokens[1:len(times)]) if len(r.chunk_tokens) >= len(times) else []
    return RequestMetrics(ttft_ms=ttft_ms, e2e_ms=e2e_ms, tpot_ms=tpot_ms, itl_ms=itl_ms, itl_tokens=itl_tokens,
                          send_lag_ms=(r.t_send_ns - r.t_sched_ns) / NS_PER_MS)


# ---------------------------------------------------------------- distributions


def distribution(values: Iterable[float | None]) -> dict[str, float | None]:
    """p50/p90/p95/p99 by linear interpolation (numpy's default: rank = q/100 × (n − 1)), mean, *population* std
    (ddof=0, defined for a single value), count. None entries are skipped; no values → every statistic None and
    count 0."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return {**{f"p{q}": None for q in PERCENTILES}, "mean": None, "std": None, "count": 0.0}
    pct = np.percentile(data, PERCENTILES, method="linear")
    return {**{f"p{q}": float(v) for q, v in zip(PERCENTILES, pct, strict=True)},
            "mean": float(data.mean()), "std": float(data.std(ddof=0)), "count": float(data.size)}


# ---------------------------------------------------------------- offline batch


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


def window_metrics(records: Sequence[RequestRecord], slo: WindowSLO | None = None,
                   offline_batches: bool = True) -> dict[str, float | None]:
    """One sweep point, one repetition (warmup already excluded). Keys:

    - ``request_count`` (all requests sent, failed included), ``error_count`` (failed), ``error_rate`` =
      error_count / request_count.
    - ``window_s`` = max t_end − min t_sched: the start is the earliest *scheduled* time over all requests, failed
      ones included; the end is the latest t_end of any request that has one (a failed request whose stream broke
      after some tokens still extends it). No t_end anywhere → window_s and every throughput None.
    - ``output_tokens_total`` / ``input_tokens_total`` = Σ n_out / Σ n_in over successful requests.
    - ``output_throughput_tok_s`` = Σ n_out / window_s; ``total_token_throughput_tok_s`` = Σ (n_in + n_out) /
      window_s; ``request_throughput_req_s`` = successful requests / window_s; ``goodput_req_s`` = successful
      requests meeting every SLO / window_s. Failed requests are absent from these numerators but their time is in
      the window.
    - ``slo_attainment`` = requests meeting every SLO / request_count (failed requests count as misses).
    - For each of ttft_ms, tpot_ms, itl_ms, e2e_ms, send_lag_ms over successful requests (ITL: every gap of every
      request, pooled): ``<name>_p50``, ``_p90``, ``_p95``, ``_p99``, ``_mean``, ``_std`` (population), ``_count``.
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
        return x / window_s if window_s is not None and window_s > 0 else None

    out.update({
        "window_s": window_s,
        "output_tokens_total": float(n_out),
        "input_tokens_total": float(n_in),
        "output_throughput_tok_s": rate(n_out),
        "total_token_throughput_tok_s": rate(n_out + n_in),
        "request_throughput_req_s": rate(len(done)),
        "goodput_req_s": rate(good),
        "slo_attainment": good / n_sent if n_sent else None,
    })
    series: dict[str, list[float]] = {
        "ttft_ms": [m.ttft_ms for _, m in done],
        "tpot_ms": [m.tpot_ms for _, m in done if m.tpot_ms is not None],
        "itl_ms": [gap for _, m in done for gap in m.itl_ms],
        "e2e_ms": [m.e2e_ms for _, m in done],
        "send_lag_ms": [m.send_lag_ms for _, m in done],
    }
    for name in LATENCY_SERIES:
        for stat, value in distribution(series[name]).items():
            out[f"{name}_{stat}"] = value
    chunk_tokens = [t for r, _ in done for t in r.chunk_tokens]
    out["tokens_per_chunk_mean"] = float(np.mean(chunk_tokens)) if chunk_tokens else None

    prefill: list[float] = []
    decode: list[float] = []
    if offline_batches:
        batches: dict[int, list[RequestRecord]] = {}
        for r in records:
            batches.setdefault(r.batch_index, []).append(r)
        for b in batches.values():
            bm = batch_metrics(b)
            if bm["prefill_ms"] is not None:
                prefill.append(bm["prefill_ms"])
            if bm["decode_throughput_tok_s"] is not None:
                decode.append(bm["decode_throughput_tok_s"])
    out["prefill_ms_mean"] = float(np.mean(prefill)) if prefill else None
    out["decode_throughput_tok_s"] = float(np.mean(decode)) if decode else None
    return out


# ---------------------------------------------------------------- across repetitions


def bootstrap_median_ci(values: Sequence[float | None], seed: int = 0, n_resamples: int = 1000,
                        confidence: float = 0.95) -> tuple[float | None, float | None, float | None]:
    """(median, low, high): the median of the repetitions' values and a seeded percentile-bootstrap CI of it.

    Resamples the values with replacement ``n_resamples`` times (≥ 1000, per METRICS.md) from
    ``numpy.random.default_rng(seed)``, takes each resample's median, and returns the (1 − confidence)/2 and
    (1 + confidence)/2 quantiles of those medians (linear interpolation). None and NaN values are skipped;
    one value → (v, v, v); none → (None, None, None). The same inputs and seed give the same result.
    """
    if n_resamples < MIN_BOOTSTRAP_RESAMPLES:
        raise ValueError(f"n_resamples must be ≥ {MIN_BOOTSTRAP_RESAMPLES} (METRICS.md), got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return None, None, None
    median = float(np.median(data))
    if data.size == 1:
        return median, median, median
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(n_resamples, data.size))
    medians = np.median(data[idx], axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    return median, float(low), float(high)


def aggregate_repetitions(per_rep: Sequence[dict[str, float | None]], seed: int = 0, n_resamples: int = 1000,
                          confidence: float = 0.95) -> dict[str, tuple[float | None, float | None, float | None]]:
    """For every key found in any repetition: ``bootstrap_median_ci`` over the repetitions' values (a repetition
    lacking the key, or holding None, is skipped for that key). Keys keep first-seen order."""
    keys = list(dict.fromkeys(k for rep in per_rep for k in rep))
    return {k: bootstrap_median_ci([rep.get(k) for rep in per_rep], seed=seed, n_resamples=n_resamples,
                                   confidence=confidence)
            for k in keys}


# ---------------------------------------------------------------- memory


def peak(values: Iterable[float | None]) -> float | None:
    """Largest sampled value (None readings skipped); None when nothing was read."""
    data = [float(v) for v in values if v is not None]
    return max(data) if data else None


# ---------------------------------------------------------------- power and energy


def _power_samples(t_ns: Sequence[int], watts: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    pairs = sorted((t, w) for t, w in zip(t_ns, watts, strict=True) if w is not None and not math.isnan(w))
    t = np.asarray([p[0] for p in pairs], dtype=float)
    w = np.asarray([p[1] for p in pairs], dtype=float)
    return t, w


def integrate_power_j(t_ns: Sequence[int], watts: Sequence[float | None], start_ns: int | None = None,
                      end_ns: int | None = None) -> float | None:
    """Trapezoidal integral of power samples: Σ (w_i + w_{i+1}) / 2 × (t_{i+1} − t_i), W × s = J.

    Samples without a reading (None/NaN) are skipped. With ``start_ns``/``end_ns`` the integral is clipped to that
    interval, the power at a cut being linearly interpolated between its neighbouring samples; nothing is
    extrapolated beyond the first and last sample (check ``power_coverage_s``). None with fewer than two samples or
    when the interval does not overlap the samples.
    """
    t, w = _power_samples(t_ns, watts)
    if t.size < 2:
        return None
    lo = t[0] if start_ns is None else max(float(start_ns), t[0])
    hi = t[-1] if end_ns is None else min(float(end_ns), t[-1])
    if hi < lo:
        return None
    inside = (t > lo) & (t < hi)
    grid = np.concatenate([[lo], t[inside], [hi]])
    wg = np.interp(grid, t, w)
    return float(np.sum((wg[1:] + wg[:-1]) / 2 * np.diff(grid)) / NS_PER_S)


def power_coverage_s(t_ns: Sequence[int], watts: Sequence[float | None], start_ns: int, end_ns: int) -> float:
    """Seconds of [start_ns, end_ns] that lie between the first and last power sample (what ``integrate_power_j``
    can integrate)."""
    t, _ = _power_samples(t_ns, watts)
    if t.size < 2:
        return 0.0
    return max(0.0, min(float(end_ns), t[-1]) - max(float(start_ns), t[0])) / NS_PER_S


def average_power_w(t_ns: Sequence[int], watts: Sequence[float | None], start_ns: int | None = None,
                    end_ns: int | None = None) -> float | None:
    """Time-weighted mean power = trapezoidal energy / covered duration (e.g. idle power before a point)."""
    t, w = _power_samples(t_ns, watts)
    if t.size == 0:
        return None
    lo = t[0] if start_ns is None else max(float(start_ns), t[0])
    hi = t[-1] if end_ns is None else min(float(end_ns), t[-1])
    if hi < lo:
        return None
    if hi == lo:  # one sample, or an instant: the (interpolated) reading there
        return float(np.interp(lo, t, w))
    energy = integrate_power_j(t_ns, watts, start_ns, end_ns)
    assert energy is not None
    return energy / ((hi - lo) / NS_PER_S)


def energy_in_intervals_j(t_ns: Sequence[int], watts: Sequence[float | None],
                          intervals: Iterable[tuple[int, int]]) -> float | None:
    """Σ of ``integrate_power_j`` over disjoint intervals (e.g. ``phase_intervals(...)["prefill"]``); an interval
    outside the samples adds nothing; None when no interval overlaps the samples."""
    parts = [integrate_power_j(t_ns, watts, a, b) for a, b in intervals]
    known = [p for p in parts if p is not None]
    return float(sum(known)) if known else None


def phase_intervals(records: Sequence[RequestRecord]) -> dict[str, list[tuple[int, int]]]:
    """Split the run clock by what the engine was doing, from request events.

    A request is prefilling over [t_send, t_first) and decoding over [t_first, t_end). With several requests in
    flight the phases can overlap (continuous batching); each instant goes to exactly one of ``prefill`` (some
    request prefilling, none decoding), ``decode`` (decoding, none prefilling) or ``mixed`` (both). Idle gaps belong
    to none. Returns sorted, disjoint, merged [start_ns, end_ns) intervals per phase. Requests without a first
    token contribute nothing (their prefill has no known end).
    """
    events: list[tuple[int, int, int]] = []  # (t, Δprefilling, Δdecoding)
    for r in records:
        if r.t_first_ns is None:
            continue
        if r.t_first_ns > r.t_send_ns:
            events += [(r.t_send_ns, 1, 0), (r.t_first_ns, -1, 0)]
        if r.t_end_ns is not None and r.t_end_ns > r.t_first_ns:
            events += [(r.t_first_ns, 0, 1), (r.t_end_ns, 0, -1)]
    events.sort()
    out: dict[str, list[tuple[int, int]]] = {"prefill": [], "decode": [], "mixed": []}
    prefilling = decoding = 0
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:
            prefilling += events[i][1]
            decoding += events[i][2]
            i += 1
        if i == len(events):
            break
        nxt = events[i][0]
        phase = "mixed" if prefilling and decoding else "prefill" if prefilling else "decode" if decoding else None
        if phase is None:
            continue
        spans = out[phase]
        if spans and spans[-1][1] == t:
            spans[-1] = (spans[-1][0], nxt)
        else:
            spans.append((t, nxt))
    return out


def counter_delta(start: float, end: float, max_range: float | None = None) -> float:
    """Increase of a monotonically increasing counter that may wrap (once) to 0 after ``max_range``:
    end − start, or (max_range − start) + end when end < start (RAPL ``energy_uj`` with ``max_energy_range_uj``).
    A counter that went backwards with no known range raises ValueError."""
    if end >= start:
        return end - start
    if max_range is None:
        raise ValueError(f"counter went backwards ({start} → {end}) and no wrap range is known")
    return max_range - start + end


def rapl_energy_j(start_uj: float, end_uj: float, max_range_uj: float | None) -> float:
    """RAPL ``energy_uj`` readings → J, handling one wraparound at ``max_energy_range_uj``."""
    return counter_delta(start_uj, end_uj, max_range_uj) / 1e6


def nvml_energy_j(start_mj: float, end_mj: float) -> float:
    """``nvmlDeviceGetTotalEnergyConsumption`` readings (mJ since driver load; a 64-bit counter) → J."""
    return counter_delta(start_mj, end_mj) / 1e3


def energy_low_confidence(duration_s: float, energy_source: str) -> bool:
    """True for windows under 1 s (counters and averaged power readings lag by up to ~1 s on Hopper-class GPUs)
    or when energy was integrated from power samples rather than read from an energy counter."""
    return duration_s < LOW_CONFIDENCE_WINDOW_S or "power_integration" in energy_source


def net_energy_j(gross_j: float, idle_w: float, duration_s: float) -> float:
    """Energy above idle: gross − idle power × duration."""
    return gross_j - idle_w * duration_s


def energy_per_token_j(energy_j: float | None, n_out_total: float) -> float | None:
    """Energy / Σ n_out; None when either is unknown or no token was generated."""
    return energy_j / n_out_total if energy_j is not None and n_out_total > 0 else None


# ---------------------------------------------------------------- efficiency against hardware limits


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


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, context: int, bytes_per_element: float,
                   batch: int = 1) -> float:
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


# ---------------------------------------------------------------- quantization


def compression_rate(ref_bytes: float, quant_bytes: float) -> float:
    """Bytes of weights at the reference precision ÷ bytes at the quantized precision."""
    return ref_bytes / quant_bytes


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _pair(ref_logits: np.ndarray, quant_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref_logits, dtype=np.float64)
    quant = np.asarray(quant_logits, dtype=np.float64)
    if ref.shape != quant.shape:
        raise ValueError(f"logits shapes differ: {ref.shape} vs {quant.shape}")
    return ref.reshape(-1, ref.shape[-1]), quant.reshape(-1, quant.shape[-1])


def mean_kl(ref_logits: np.ndarray, quant_logits: np.ndarray) -> float:
    """Mean over token positions of KL(p_ref ‖ p_quant) = Σ_v p_ref (log p_ref − log p_quant), in nats, from
    log-softmax of logits shaped (..., vocab)."""
    ref, quant = _pair(ref_logits, quant_logits)
    log_p = _log_softmax(ref)
    log_q = _log_softmax(quant)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))


def top1_agreement(ref_logits: np.ndarray, quant_logits: np.ndarray) -> float:
    """Fraction of token positions where both precisions' argmax agree."""
    ref, quant = _pair(ref_logits, quant_logits)
    return float(np.mean(np.argmax(ref, axis=-1) == np.argmax(quant, axis=-1)))


def perplexity(logits: np.ndarray, target_ids: np.ndarray) -> float:
    """exp(mean negative log-likelihood of ``target_ids[i]`` under ``logits[i]``), teacher-forced; logits shaped
    (tokens, vocab) already aligned with their targets (logits at position i predict target i)."""
    log_p = _log_softmax(np.asarray(logits, dtype=np.float64))
    targets = np.asarray(target_ids)
    if log_p.ndim != 2 or targets.shape != (log_p.shape[0],):
        raise ValueError(f"need logits (tokens, vocab) and targets (tokens,), got {log_p.shape} and {targets.shape}")
    nll = -log_p[np.arange(targets.size), targets]
    return float(np.exp(nll.mean()))


# ---------------------------------------------------------------- serving searches


def is_saturated(offered_req_s: float, achieved_req_s: float | None, saturation_pct: float = 90.0) -> bool:
    """A rate is saturated when the achieved request rate is below ``saturation_pct`` % of the offered rate (no
    request served at all counts as saturated)."""
    return achieved_req_s is None or achieved_req_s < offered_req_s * saturation_pct / 100


def meets_p99_slo(figures: dict[str, float | None], slo: WindowSLO) -> bool:
    """The SLO search's test of one trial: p99 TTFT ≤ slo.ttft_ms and p99 TPOT ≤ slo.tpot_ms (limits left None are
    not checked), and no failed request (errors hide latency: a failed request would otherwise escape the p99).
    A trial without a TTFT distribution fails; a TPOT limit passes when no request had a TPOT (n_out < 2)."""
    if figures.get("error_count"):
        return False
    ttft = figures.get("ttft_ms_p99")
    if ttft is None:
        return False
    if slo.ttft_ms is not None and ttft > slo.ttft_ms:
        return False
    tpot = figures.get("tpot_ms_p99")
    return not (slo.tpot_ms is not None and tpot is not None and tpot > slo.tpot_ms)
