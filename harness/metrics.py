"""Every formula of docs/METRICS.md, as pure functions over recorded events and timelines.

Times come in integer nanoseconds on the run clock; figures leave with their unit in their name. Nothing here
imports an engine library, so the formulas are tested on hand-computed examples alone.
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


# ---------------------------------------------------------------- one request


@dataclass(frozen=True)
class RequestMetrics:
    ttft_ms: float
    e2e_ms: float
    tpot_ms: float | None
    itl_ms: list[float] = field(default_factory=list)
    send_lag_ms: float = 0.0


def request_metrics(r: RequestRecord) -> RequestMetrics | None:
    """TTFT and E2E from the *scheduled* time (open-loop patterns must not hide queueing behind a late client);
    TPOT = (E2E − TTFT) / (n_out − 1) for n_out ≥ 2; one ITL gap per pair of successive token-bearing chunks,
    however many tokens a chunk carried. None for a failed request."""
    if not r.ok:
        return None
    assert r.t_first_ns is not None and r.t_end_ns is not None
    ttft_ms = (r.t_first_ns - r.t_sched_ns) / NS_PER_MS
    e2e_ms = (r.t_end_ns - r.t_sched_ns) / NS_PER_MS
    tpot_ms = (e2e_ms - ttft_ms) / (r.n_out - 1) if r.n_out is not None and r.n_out >= 2 else None
    times = r.chunk_times_ns
    itl_ms = [(b - a) / NS_PER_MS for a, b in zip(times, times[1:], strict=False)]
    return RequestMetrics(ttft_ms=ttft_ms, e2e_ms=e2e_ms, tpot_ms=tpot_ms, itl_ms=itl_ms,
                          send_lag_ms=(r.t_send_ns - r.t_sched_ns) / NS_PER_MS)


# ---------------------------------------------------------------- distributions


def distribution(values: Iterable[float]) -> dict[str, float | None]:
    """p50/p90/p95/p99 by linear interpolation, mean, population std (ddof=0), count."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return {**{f"p{q}": None for q in PERCENTILES}, "mean": None, "std": None, "count": 0.0}
    pct = np.percentile(data, PERCENTILES, method="linear")
    return {**{f"p{q}": float(v) for q, v in zip(PERCENTILES, pct, strict=True)},
            "mean": float(data.mean()), "std": float(data.std(ddof=0)), "count": float(data.size)}


# ---------------------------------------------------------------- offline batch


def batch_metrics(records: Sequence[RequestRecord]) -> dict[str, float | None]:
    """One offline batch (records sharing ``batch_index``).

    prefill_ms = first generated token of the batch − submission (the batch's TTFT).
    decode_throughput_tok_s = batch × (n_out − 1) / (t_end − t_first); with unequal lengths, the sum of
    (n_out_i − 1) over sequences / (max t_end − min t_first), which is the same when lengths are equal.
    """
    done = [r for r in records if r.ok]
    if not done:
        return {"prefill_ms": None, "decode_throughput_tok_s": None}
    t_submit = min(r.t_sched_ns for r in records)
    t_first = min(r.t_first_ns for r in done)  # type: ignore[type-var]
    t_end = max(r.t_end_ns for r in done)  # type: ignore[type-var]
    decode_tokens = sum(max((r.n_out or 0) - 1, 0) for r in done)
    span_ns = t_end - t_first
    return {
        "prefill_ms": (t_first - t_submit) / NS_PER_MS,
        "decode_throughput_tok_s": decode_tokens / (span_ns / NS_PER_S) if span_ns > 0 and decode_tokens else None,
    }


# ---------------------------------------------------------------- a measurement window


@dataclass(frozen=True)
class WindowSLO:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, m: RequestMetrics) -> bool:
        """Every SLO that is set must hold; a TPOT limit is met by a request with n_out < 2 (no TPOT exists)."""
        if self.ttft_ms is not None and m.ttft_ms > self.ttft_ms:
            return False
        if self.tpot_ms is not None and m.tpot_ms is not None and m.tpot_ms > self.tpot_ms:
            return False
        return not (self.e2e_ms is not None and m.e2e_ms > self.e2e_ms)


def window_metrics(records: Sequence[RequestRecord], slo: WindowSLO | None = None) -> dict[str, float | None]:
    """One sweep point, one repetition (warmup already excluded).

    The window runs from the earliest scheduled time of *any* request (failed ones included) to the latest
    ``t_end``. Throughputs count successful requests' tokens over that window. ``request_count`` counts every
    request sent, and failed ones stay in it: ``error_rate`` = errors / requests sent.
    """
    slo = slo or WindowSLO()
    per_request = [(r, request_metrics(r)) for r in records]
    done = [(r, m) for r, m in per_request if m is not None]
    out: dict[str, float | None] = {
        "request_count": float(len(records)),
        "error_count": float(len(records) - len(done)),
        "error_rate": (len(records) - len(done)) / len(records) if records else None,
    }
    ends = [r.t_end_ns for r, _ in done]
    window_s = (max(ends) - min(r.t_sched_ns for r in records)) / NS_PER_S if ends else 0.0
    n_out = sum(r.n_out or 0 for r, _ in done)
    n_in = sum(r.n_in or 0 for r, _ in done)
    good = sum(1 for _, m in done if slo.met(m))
    rate = (lambda x: x / window_s) if window_s > 0 else (lambda x: None)
    out.update({
        "window_s": window_s if ends else None,
        "output_tokens_total": float(n_out),
        "input_tokens_total": float(n_in),
        "output_throughput_tok_s": rate(n_out),
        "total_token_throughput_tok_s": rate(n_out + n_in),
        "request_throughput_req_s": rate(len(done)),
        "goodput_req_s": rate(good),
        "slo_attainment": good / len(records) if records else None,
    })
    series = {
        "ttft_ms": [m.ttft_ms for _, m in done],
        "tpot_ms": [m.tpot_ms for _, m in done if m.tpot_ms is not None],
        "itl_ms": [gap for _, m in done for gap in m.itl_ms],
        "e2e_ms": [m.e2e_ms for _, m in done],
        "send_lag_ms": [m.send_lag_ms for _, m in done],
    }
    for name, values in series.items():
        for stat, value in distribution(values).items():
            if stat != "count":
                out[f"{name}_{stat}"] = value
    batches: dict[int, list[RequestRecord]] = {}
    for r in records:
        batches.setdefault(r.batch_index, []).append(r)
    per_batch = [batch_metrics(b) for b in batches.values()]
    for key in ("prefill_ms", "decode_throughput_tok_s"):
        values = [b[key] for b in per_batch if b[key] is not None]
        out[f"{key}_mean" if key == "prefill_ms" else key] = float(np.mean(values)) if values else None
    return out


# ---------------------------------------------------------------- across repetitions


def bootstrap_median_ci(values: Sequence[float | None], seed: int = 0, n_resamples: int = 1000,
                        confidence: float = 0.95) -> tuple[float | None, float | None, float | None]:
    """Median of the repetitions' values with a seeded percentile-bootstrap CI of the median."""
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        return None, None, None
    median = float(np.median(data))
    if data.size == 1:
        return median, median, median
    rng = np.random.default_rng(seed)
    resamples = rng.choice(data, size=(n_resamples, data.size), replace=True)
    medians = np.median(resamples, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    return median, float(low), float(high)


def aggregate_repetitions(per_rep: Sequence[dict[str, float | None]], seed: int = 0,
                          n_resamples: int = 1000) -> dict[str, tuple[float | None, float | None, float | None]]:
    keys = list(dict.fromkeys(k for rep in per_rep for k in rep))
    return {k: bootstrap_median_ci([rep.get(k) for rep in per_rep], seed=seed, n_resamples=n_resamples)
            for k in keys}


# ---------------------------------------------------------------- power and energy


def integrate_power_j(t_ns: Sequence[int], watts: Sequence[float | None]) -> float | None:
    """Trapezoidal integral of power samples (W over ns → J). Samples with no reading are skipped."""
    pairs = [(t, w) for t, w in zip(t_ns, watts, strict=True) if w is not None]
    if len(pairs) < 2:
        return None
    t = np.asarray([p[0] for p in pairs], dtype=float) / NS_PER_S
    w = np.asarray([p[1] for p in pairs], dtype=float)
    return float(np.sum((w[1:] + w[:-1]) / 2 * np.diff(t)))


def counter_delta(start: float, end: float, max_range: float | None = None) -> float:
    """Increase of a monotonically increasing counter that may wrap once at ``max_range`` (RAPL energy_uj)."""
    if end >= start:
        return end - start
    if max_range is None:
        raise ValueError(f"counter went backwards ({start} → {end}) and no wrap range is known")
    return max_range - start + end


def net_energy_j(gross_j: float, idle_w: float, duration_s: float) -> float:
    """Energy above idle: gross − idle power × duration."""
    return gross_j - idle_w * duration_s


def energy_per_token_j(energy_j: float | None, n_out_total: float) -> float | None:
    return energy_j / n_out_total if energy_j is not None and n_out_total > 0 else None


# ---------------------------------------------------------------- efficiency against hardware limits


def flops_per_token(n_params: float, n_layers: int, context: int, d_model: int) -> float:
    """≈ 2 × N_params (matmuls) + 2 × n_layers × context × d_model (attention over the context)."""
    return 2 * n_params + 2 * n_layers * context * d_model


def mfu(achieved_flops_s: float, peak_flops_s: float) -> float:
    return achieved_flops_s / peak_flops_s


def mbu(achieved_bytes_s: float, peak_bytes_s: float) -> float:
    return achieved_bytes_s / peak_bytes_s


def idealized_runtime_s(flops: float, bytes_moved: float, peak_flops_s: float, peak_bytes_s: float) -> float:
    """The roofline bound: the slower of compute and memory traffic at peak rates."""
    return max(flops / peak_flops_s, bytes_moved / peak_bytes_s)


# ---------------------------------------------------------------- quantization


def compression_rate(ref_bytes: float, quant_bytes: float) -> float:
    return ref_bytes / quant_bytes


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def mean_kl(ref_logits: np.ndarray, quant_logits: np.ndarray) -> float:
    """Mean over tokens of KL(p_ref ‖ p_quant), in nats; logits shaped (tokens, vocab)."""
    log_p = _log_softmax(np.asarray(ref_logits, dtype=np.float64))
    log_q = _log_softmax(np.asarray(quant_logits, dtype=np.float64))
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))


def top1_agreement(ref_logits: np.ndarray, quant_logits: np.ndarray) -> float:
    return float(np.mean(np.argmax(ref_logits, axis=-1) == np.argmax(quant_logits, axis=-1)))


def perplexity(logits: np.ndarray, target_ids: np.ndarray) -> float:
    """exp(mean negative log-likelihood of ``target_ids[i]`` under ``logits[i]``) — teacher-forced."""
    log_p = _log_softmax(np.asarray(logits, dtype=np.float64))
    nll = -log_p[np.arange(len(target_ids)), np.asarray(target_ids)]
    return float(np.exp(nll.mean()))
