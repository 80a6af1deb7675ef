"""Every formula of harness/metrics.py against an example computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import metrics as m
from harness.records import RequestRecord

MS = 1_000_000  # ns per ms
S = 1_000_000_000  # ns per s


def req(t_sched, t_send, chunks, tokens=None, n_out=None, n_in=10, batch_index=0, error=None, index=0):
    """A request from times given in ms; a request with an error gets no t_first/t_end."""
    chunks_ns = [int(c * MS) for c in chunks]
    tokens = tokens or [1] * len(chunks)
    return RequestRecord(
        index=index,
        batch_index=batch_index,
        t_sched_ns=int(t_sched * MS),
        t_send_ns=int(t_send * MS),
        t_first_ns=chunks_ns[0] if chunks_ns and not error else None,
        t_end_ns=chunks_ns[-1] if chunks_ns and not error else None,
        chunk_times_ns=chunks_ns,
        chunk_tokens=tokens,
        n_in=n_in,
        n_out=n_out if n_out is not None else sum(tokens),
        error=error,
    )


# ---------------------------------------------------------------- one request


def test_request_ttft_e2e_tpot_itl():
    r = req(100, 100, [150, 160, 175, 200])
    got = m.request_metrics(r)
    assert got.ttft_ms == 50.0  # TTFT = 150 − 100 = 50 ms
    assert got.e2e_ms == 100.0  # E2E = 200 − 100 = 100 ms
    assert got.tpot_ms == pytest.approx(50 / 3)  # TPOT = (100 − 50) / (4 − 1) = 16.67 ms
    assert got.itl_ms == [10.0, 15.0, 25.0]  # 160 − 150, 175 − 160, 200 − 175
    assert got.itl_tokens == [1, 1, 1]
    assert got.send_lag_ms == 0.0  # 100 − 100


def test_open_loop_ttft_counts_from_the_scheduled_time():
    # scheduled at 100 ms, the client only sent at 130 ms: a late send doesn't shrink TTFT
    got = m.request_metrics(req(100, 130, [150, 170]))
    assert got.ttft_ms == 50.0  # TTFT = 150 − 100 (t_sched), not 150 − 130 = 20
    assert got.e2e_ms == 70.0  # E2E = 170 − 100
    assert got.send_lag_ms == 30.0  # send lag = 130 − 100


def test_a_multi_token_chunk_is_one_itl_gap():
    # chunks at 150 (1 token), 170 (3 tokens), 180 (1 token): n_out = 5, gaps 20 and 10 — two gaps, not four
    got = m.request_metrics(req(100, 100, [150, 170, 180], tokens=[1, 3, 1]))
    assert got.itl_ms == [20.0, 10.0]  # 170 − 150, 180 − 170
    assert got.itl_tokens == [3, 1]  # tokens carried by the later chunk of each gap
    assert got.tpot_ms == pytest.approx(7.5)  # (E2E 80 − TTFT 50) / (5 − 1) = 30 / 4


def test_tpot_needs_two_tokens():
    assert m.request_metrics(req(0, 0, [40])).tpot_ms is None  # n_out = 1
    unknown = RequestRecord(
        index=0,
        t_sched_ns=0,
        t_send_ns=0,
        t_first_ns=40 * MS,
        t_end_ns=50 * MS,
        chunk_times_ns=[40 * MS, 50 * MS],
        chunk_tokens=[1, 1],
        n_out=None,
    )
    assert m.request_metrics(unknown).tpot_ms is None  # n_out unknown


def test_tpot_is_undefined_for_a_reply_in_one_chunk():
    # non-streamed: 5 tokens all at 40 ms → E2E − TTFT = 0, no decode interval observed; 0 ms would be false
    got = m.request_metrics(req(0, 0, [40], tokens=[5]))
    assert got.ttft_ms == 40.0 and got.e2e_ms == 40.0
    assert got.tpot_ms is None
    assert got.itl_ms == []


def test_failed_request_has_no_latency():
    assert m.request_metrics(req(0, 0, [], error="HTTP 500")) is None
    # a stream that broke after two chunks: error set, partial times kept → still no latency figures
    broke = RequestRecord(
        index=0,
        t_sched_ns=0,
        t_send_ns=0,
        t_first_ns=10 * MS,
        t_end_ns=20 * MS,
        chunk_times_ns=[10 * MS, 20 * MS],
        chunk_tokens=[1, 1],
        n_out=2,
        error="stream broke",
    )
    assert m.request_metrics(broke) is None
    # no error but no token-bearing chunk: no TTFT exists → failed
    assert m.request_metrics(RequestRecord(index=0, t_sched_ns=0, t_send_ns=0, n_out=0)) is None


# ---------------------------------------------------------------- distributions


def test_distribution_linear_interpolation():
    d = m.distribution([1, 2, 3, 4, 5])
    # rank = q/100 × (n − 1) on sorted values; p50 → 2.0 → 3 ; p90 → 3.6 → 4 + 0.6 × (5 − 4) = 4.6
    assert d["p50"] == 3.0
    assert d["p90"] == pytest.approx(4.6)
    assert d["p95"] == pytest.approx(4.8)  # rank 3.8 → 4 + 0.8 × 1
    assert d["p99"] == pytest.approx(4.96)  # rank 3.96 → 4 + 0.96 × 1
    assert d["mean"] == 3.0  # 15 / 5
    assert d["std"] == pytest.approx(math.sqrt(2))  # population: mean of (4, 1, 0, 1, 4) = 2
    assert d["count"] == 5


def test_distribution_unsorted_even_count():
    d = m.distribution([10, 40, 20, 30, None])  # None skipped → sorted 10, 20, 30, 40
    assert d["p50"] == 25.0  # rank 0.5 × 3 = 1.5 → 20 + 0.5 × 10
    assert d["p90"] == pytest.approx(37.0)  # rank 0.9 × 3 = 2.7 → 30 + 0.7 × 10
    assert d["p99"] == pytest.approx(39.7)  # rank 0.99 × 3 = 2.97 → 30 + 0.97 × 10
    assert d["std"] == pytest.approx(math.sqrt(125))  # mean 25; (225 + 25 + 25 + 225) / 4 = 125
    assert d["count"] == 4


def test_distribution_edges():
    assert m.distribution([]) == {
        "p50": None,
        "p90": None,
        "p95": None,
        "p99": None,
        "mean": None,
        "std": None,
        "count": 0.0,
    }
    one = m.distribution([7.0])
    assert one["p50"] == one["p99"] == one["mean"] == 7.0 and one["std"] == 0.0  # ddof=0 defined for n = 1


# ---------------------------------------------------------------- offline batch


def test_offline_batch_prefill_and_decode_throughput():
    # batch of 2 submitted at 0 ms; both stream 4 tokens at 30, 40, 50, 60 ms
    batch = [req(0, 0, [30, 40, 50, 60], index=i) for i in range(2)]
    got = m.batch_metrics(batch)
    assert got["prefill_ms"] == 30.0  # first token of the batch 30 − submission 0
    # batch × (n_out − 1) / (t_end − t_first) = 2 × 3 / (0.060 − 0.030) s = 200 tok/s
    assert got["decode_throughput_tok_s"] == pytest.approx(200.0)


def test_offline_batch_with_unequal_lengths_and_a_failure():
    batch = [
        req(0, 0, [30, 40, 50, 60], index=0),  # n_out 4
        req(0, 0, [35, 45], index=1),  # n_out 2, stopped early (EOS)
        req(0, 0, [], error="OOM", index=2),  # failed: no tokens to count
    ]
    got = m.batch_metrics(batch)
    assert got["prefill_ms"] == 30.0  # min t_first 30 − min t_sched 0
    # Σ (n_out_i − 1) / (max t_end − min t_first) = (3 + 1) / (0.060 − 0.030) s = 133.33 tok/s
    assert got["decode_throughput_tok_s"] == pytest.approx(4 / 0.030)
    assert m.batch_metrics([req(0, 0, [30])])["decode_throughput_tok_s"] is None  # n_out 1: no decode token
    assert m.batch_metrics([req(0, 0, [], error="x")]) == {"prefill_ms": None, "decode_throughput_tok_s": None}


def test_window_averages_batches():
    records = [
        req(0, 0, [30, 40, 50, 60], batch_index=0, index=0),  # prefill 30, decode 3 / 0.030 = 100 tok/s
        req(100, 100, [110, 130, 150], batch_index=1, index=1),  # prefill 10, decode 2 / 0.040 = 50 tok/s
    ]
    got = m.window_metrics(records)
    assert got["prefill_ms_mean"] == pytest.approx(20.0)  # (30 + 10) / 2
    assert got["decode_throughput_tok_s"] == pytest.approx(75.0)  # (100 + 50) / 2
    online = m.window_metrics(records, offline_batches=False)
    assert online["prefill_ms_mean"] is None and online["decode_throughput_tok_s"] is None


# ---------------------------------------------------------------- a measurement window


def window_records():
    return [
        # failed, scheduled first: opens the window, counted as sent, never in a latency distribution
        req(0, 0, [], error="HTTP 500", index=0),
        # TTFT 150 − 100 = 50, E2E 200 − 100 = 100, TPOT (100 − 50) / 4 = 12.5 → meets TTFT ≤ 60 and TPOT ≤ 20
        req(100, 100, [150, 160, 170, 180, 200], n_in=10, index=1),
        # TTFT 270 − 200 = 70 (> 60), E2E 110, TPOT (110 − 70) / 4 = 10 → misses on TTFT only
        req(200, 200, [270, 280, 290, 300, 310], n_in=10, index=2),
        # TTFT 340 − 300 = 40, E2E 400, TPOT (400 − 40) / 4 = 90 (> 20) → misses on TPOT only
        req(300, 300, [340, 400, 500, 600, 700], n_in=10, index=3),
    ]


def test_window_throughputs_goodput_and_errors():
    got = m.window_metrics(window_records(), m.WindowSLO(ttft_ms=60, tpot_ms=20))
    assert got["request_count"] == 4 and got["error_count"] == 1
    assert got["error_rate"] == 0.25  # 1 failed / 4 sent
    assert got["window_s"] == pytest.approx(0.7)  # max t_end 700 − min t_sched 0 (the failed request's)
    assert got["output_tokens_total"] == 15  # 3 successful × 5 tokens
    assert got["output_throughput_tok_s"] == pytest.approx(15 / 0.7)  # 21.43 tok/s
    assert got["total_token_throughput_tok_s"] == pytest.approx((15 + 30) / 0.7)  # + 3 × 10 input tokens
    assert got["request_throughput_req_s"] == pytest.approx(3 / 0.7)  # 3 successful / 0.7 s
    assert got["goodput_req_s"] == pytest.approx(1 / 0.7)  # only request 1 meets every SLO
    assert got["slo_attainment"] == pytest.approx(0.25)  # 1 good of 4 sent


def test_window_distributions_exclude_the_failed_request():
    got = m.window_metrics(window_records())
    # TTFTs 50, 70, 40 → sorted 40, 50, 70: p50 = 50; p90 rank 0.9 × 2 = 1.8 → 50 + 0.8 × 20 = 66
    assert got["ttft_ms_count"] == 3
    assert got["ttft_ms_p50"] == 50.0
    assert got["ttft_ms_p90"] == pytest.approx(66.0)
    assert got["ttft_ms_mean"] == pytest.approx(160 / 3)  # (50 + 70 + 40) / 3
    assert got["e2e_ms_p50"] == 110.0  # E2Es 100, 110, 400
    assert got["tpot_ms_mean"] == pytest.approx(37.5)  # (12.5 + 10 + 90) / 3
    # ITL pooled: 10, 10, 10, 20 | 10, 10, 10, 10 | 60, 100, 100, 100 → 12 gaps summing to 450
    assert got["itl_ms_count"] == 12
    assert got["itl_ms_mean"] == pytest.approx(37.5)  # 450 / 12
    assert got["itl_ms_p50"] == 10.0  # sorted: eight 10s first, rank 5.5 → 10
    assert got["send_lag_ms_mean"] == 0.0
    assert got["tokens_per_chunk_mean"] == 1.0
    # no SLO set: every successful request is good, goodput = request throughput
    assert got["goodput_req_s"] == pytest.approx(got["request_throughput_req_s"])


def test_goodput_requires_every_slo():
    recs = window_records()
    assert m.window_metrics(recs, m.WindowSLO(ttft_ms=60))["goodput_req_s"] == pytest.approx(2 / 0.7)  # reqs 1, 3
    assert m.window_metrics(recs, m.WindowSLO(tpot_ms=20))["goodput_req_s"] == pytest.approx(2 / 0.7)  # reqs 1, 2
    assert m.window_metrics(recs, m.WindowSLO(ttft_ms=60, tpot_ms=20))["goodput_req_s"] == pytest.approx(1 / 0.7)
    # + E2E ≤ 99 ms: request 1 (E2E 100) now misses too → 0
    assert m.window_metrics(recs, m.WindowSLO(ttft_ms=60, tpot_ms=20, e2e_ms=99))["goodput_req_s"] == 0.0


def test_slo_limits_are_inclusive_and_tpot_free_requests_pass_a_tpot_limit():
    slo = m.WindowSLO(ttft_ms=50, tpot_ms=1)
    assert slo.met(m.request_metrics(req(100, 100, [150])))  # TTFT exactly 50 ≤ 50; n_out 1 → no TPOT
    assert not slo.met(None)  # a failed request meets no SLO


def test_a_broken_stream_still_extends_the_window():
    ok = req(0, 0, [50, 100])  # 2 tokens, ends at 100 ms
    broke = RequestRecord(
        index=1,
        t_sched_ns=10 * MS,
        t_send_ns=10 * MS,
        t_first_ns=60 * MS,
        t_end_ns=200 * MS,
        chunk_times_ns=[60 * MS, 200 * MS],
        chunk_tokens=[1, 1],
        n_out=2,
        error="stream broke",
    )
    got = m.window_metrics([ok, broke])
    assert got["window_s"] == pytest.approx(0.2)  # max t_end 200 (the broken one) − min t_sched 0
    assert got["output_throughput_tok_s"] == pytest.approx(10.0)  # only the 2 successful tokens / 0.2 s
    assert got["error_count"] == 1 and got["ttft_ms_count"] == 1


def test_window_with_no_finished_request_has_zero_throughput():
    got = m.window_metrics([req(0, 0, [], error="refused")])
    # every request failed: it served nothing, 0 per second (None would let the gate skip the metric)
    assert got["window_s"] is None and got["output_throughput_tok_s"] == 0.0 and got["goodput_req_s"] == 0.0
    assert got["request_throughput_req_s"] == 0.0 and got["total_token_throughput_tok_s"] == 0.0
    assert got["request_count"] == 1 and got["error_count"] == 1 and got["error_rate"] == 1.0
    assert got["ttft_ms_p50"] is None and got["ttft_ms_count"] == 0
    empty = m.window_metrics([])
    assert empty["request_count"] == 0 and empty["error_rate"] is None and empty["window_s"] is None


# ---------------------------------------------------------------- across repetitions


def test_bootstrap_median_ci_is_seeded_and_brackets_the_median():
    values = [10.0, 11.0, 9.0, 10.5, 9.5]
    a = m.bootstrap_median_ci(values, seed=0)
    assert a == m.bootstrap_median_ci(values, seed=0)  # deterministic for a seed
    median, low, high = a
    assert median == 10.0  # sorted 9, 9.5, 10, 10.5, 11
    assert 9.0 <= low <= median <= high <= 11.0
    assert m.bootstrap_median_ci([7.0]) == (7.0, 7.0, 7.0)
    assert m.bootstrap_median_ci([]) == (None, None, None)
    assert m.bootstrap_median_ci([None, float("nan")]) == (None, None, None)


def test_bootstrap_of_two_values_spans_them():
    # resample medians of [2, 4]: 2 (p = 1/4), 3 (p = 1/2), 4 (p = 1/4); ~250 of 1000 at each end, so the
    # 2.5 % and 97.5 % quantiles are 2 and 4; median (2 + 4) / 2 = 3
    assert m.bootstrap_median_ci([2.0, 4.0], seed=1) == (3.0, 2.0, 4.0)


def test_bootstrap_needs_1000_resamples():
    with pytest.raises(ValueError):
        m.bootstrap_median_ci([1.0, 2.0], n_resamples=999)


def test_aggregate_repetitions_takes_the_median_of_each_metric():
    agg = m.aggregate_repetitions([{"x": 1.0}, {"x": 3.0}, {"x": 2.0, "y": None}])
    assert agg["x"][0] == 2.0  # median of 1, 3, 2
    assert agg["x"][1] <= 2.0 <= agg["x"][2]
    assert agg["y"] == (None, None, None)
    assert list(agg) == ["x", "y"]


# ---------------------------------------------------------------- memory


def test_peak():
    assert m.peak([3.0, None, 7.0, 5.0]) == 7.0
    assert m.peak([None]) is None


# ---------------------------------------------------------------- power and energy


def test_trapezoidal_energy():
    t = [0, S, 2 * S]
    # 100 W for 1 s then a ramp to 200 W over 1 s: 100 × 1 + (100 + 200) / 2 × 1 = 250 J
    assert m.integrate_power_j(t, [100, 100, 200]) == pytest.approx(250.0)
    # a sample without a reading is skipped: (100 + 200) / 2 × 2 s = 300 J
    assert m.integrate_power_j(t, [100, None, 200]) == pytest.approx(300.0)
    assert m.integrate_power_j([0], [100]) is None


def test_trapezoidal_energy_clipped_to_an_interval():
    t, w = [0, S, 2 * S], [100, 100, 200]
    # [0.5 s, 1.5 s]: 0.5 → 1 s at 100 W = 50 J; power at 1.5 s interpolates to 150 W: (100 + 150) / 2 × 0.5 = 62.5
    assert m.integrate_power_j(t, w, S // 2, 3 * S // 2) == pytest.approx(112.5)
    # not extrapolated: [−1 s, 1 s] integrates the covered [0, 1 s] only = 100 J
    assert m.integrate_power_j(t, w, -S, S) == pytest.approx(100.0)
    assert m.power_coverage_s(t, w, -S, S) == pytest.approx(1.0)
    assert m.integrate_power_j(t, w, 3 * S, 4 * S) is None  # no overlap
    assert m.average_power_w(t, w) == pytest.approx(125.0)  # 250 J / 2 s
    assert m.average_power_w(t, w, S // 2, 3 * S // 2) == pytest.approx(112.5)  # 112.5 J / 1 s
    assert m.average_power_w([0], [80.0]) == 80.0  # one sample: its reading


def test_phase_intervals_and_energy_per_phase():
    # offline batch: both sent at 0, first tokens at 30, ends at 60 → prefill [0, 30), decode [30, 60)
    batch = [req(0, 0, [30, 60], index=i) for i in range(2)]
    assert m.phase_intervals(batch) == {"prefill": [(0, 30 * MS)], "decode": [(30 * MS, 60 * MS)], "mixed": []}
    # continuous batching: A prefills [0, 30) decodes [30, 100); B prefills [50, 70) decodes [70, 120)
    a = req(0, 0, [30, 100], index=0)
    b = req(50, 50, [70, 120], index=1)
    phases = m.phase_intervals([a, b])
    assert phases["prefill"] == [(0, 30 * MS)]  # only A prefilling
    assert phases["mixed"] == [(50 * MS, 70 * MS)]  # B prefilling while A decodes
    assert phases["decode"] == [(30 * MS, 50 * MS), (70 * MS, 120 * MS)]
    # constant 100 W sampled every 10 ms: decode energy = 100 W × (20 + 50) ms = 7 J; prefill 100 W × 30 ms = 3 J
    t = list(range(0, 121 * MS, 10 * MS))
    w = [100.0] * len(t)
    assert m.energy_in_intervals_j(t, w, phases["decode"]) == pytest.approx(7.0)
    assert m.energy_in_intervals_j(t, w, phases["prefill"]) == pytest.approx(3.0)
    assert m.energy_in_intervals_j(t, w, []) is None


def test_counter_delta_with_wraparound():
    assert m.counter_delta(100, 250) == 150  # 250 − 100
    # RAPL counter wrapped at 1000: (1000 − 900) + 50 = 150
    assert m.counter_delta(900, 50, max_range=1000) == 150
    with pytest.raises(ValueError):
        m.counter_delta(900, 50)
    # energy_uj 262,000,000 µJ range; 261,000,000 → 2,000,000 wraps: (262e6 − 261e6) + 2e6 = 3e6 µJ = 3 J
    assert m.rapl_energy_j(261_000_000, 2_000_000, 262_000_000) == pytest.approx(3.0)
    assert m.nvml_energy_j(10_000, 55_000) == pytest.approx(45.0)  # (55,000 − 10,000) mJ = 45 J


def test_low_confidence_flag():
    assert m.energy_low_confidence(0.5, "power_integration")  # integrated over < 1 s
    assert m.energy_low_confidence(2.0, "power_integration")  # a fallback from averaged power readings
    assert m.energy_low_confidence(0.5, "nvml_counter")  # too short a window even for the counter
    assert not m.energy_low_confidence(2.0, "nvml_counter+rapl")


def test_net_energy_and_per_token():
    assert m.net_energy_j(500.0, idle_w=50.0, duration_s=4.0) == 300.0  # 500 − 50 × 4
    assert m.energy_per_token_j(300.0, 600) == 0.5  # 300 J / 600 tokens
    assert m.energy_per_token_j(300.0, 0) is None
    assert m.energy_per_token_j(None, 10) is None


# ---------------------------------------------------------------- efficiency against hardware limits


def test_flops_mfu_mbu_roofline():
    # 2 × 1e6 matmul params + 4 × 4 layers × 100 context × 256 d_attn (QKᵀ and A·V) = 2,000,000 + 409,600
    assert m.flops_per_token(1e6, 4, 100, 256) == 2_409_600
    assert m.mfu(50e12, 200e12) == 0.25  # 50 / 200
    assert m.mbu(1e12, 2e12) == 0.5  # 1 / 2
    # compute 1e12 / 1e12 = 1 s, memory 3e9 / 1e9 = 3 s → max = 3 s
    assert m.idealized_runtime_s(1e12, 3e9, 1e12, 1e9) == 3.0
    assert m.runtime_ratio(6.0, 3.0) == 2.0  # measured 6 s / idealized 3 s
    assert m.runtime_ratio(1.0, 0.0) is None


def test_prefill_and_decode_flops():
    # prefill of 3 prompt tokens, contexts 1, 2, 3: 3 × 2e6 + 4 × 4 × 256 × (1 + 2 + 3) = 6e6 + 24,576
    assert m.prefill_flops(1e6, 4, 3, 256) == 6_024_576
    assert m.prefill_flops(1e6, 4, 3, 256) == sum(m.flops_per_token(1e6, 4, c, 256) for c in (1, 2, 3))
    # n_out 3 after a 3-token prompt → 2 decode steps with contexts 4, 5: 2 × 2e6 + 4096 × (4 + 5) = 4e6 + 36,864
    assert m.decode_flops(1e6, 4, 3, 3, 256) == 4_036_864
    assert m.decode_flops(1e6, 4, 3, 3, 256) == sum(m.flops_per_token(1e6, 4, c, 256) for c in (4, 5))
    assert m.decode_flops(1e6, 4, 3, 1, 256) == 0  # one token: produced by prefill


def test_bytes_per_decode_step():
    # 2 (K, V) × 2 layers × 4 kv heads × 8 head_dim × 10 positions × 2 bytes × batch 3 = 7,680 bytes
    assert m.kv_cache_bytes(2, 4, 8, 10, 2, batch=3) == 7_680
    assert m.bytes_per_decode_step(1_000, 7_680) == 8_680  # weights + KV read
    assert m.bytes_per_decode_step(1_000, 7_680, 768, 16) == 9_464  # + KV written + embedding rows


# ---------------------------------------------------------------- quantization


def test_quantization_fidelity():
    assert m.compression_rate(400, 100) == 4.0  # 400 / 100
    ref = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    quant = np.log(np.array([[0.25, 0.75], [0.9, 0.1]]))
    # KL row 1: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 (ln 2 + ln 2/3) = 0.5 ln(4/3); row 2: 0 → mean ln(4/3)/4
    assert m.mean_kl(ref, quant) == pytest.approx(math.log(4 / 3) / 4)
    assert m.mean_kl(ref, ref) == pytest.approx(0.0)
    # logits are shift-invariant: + 7 on a row changes no probability
    assert m.mean_kl(ref, quant + 7.0) == pytest.approx(math.log(4 / 3) / 4)
    assert m.top1_agreement(ref, quant) == 0.5  # row 1: argmax 0 vs 1; row 2 agrees
    # targets 0, 0: NLL = −ln 0.5 and −ln 0.9 → ppl = exp((ln 2 + ln(1/0.9)) / 2) = sqrt(2 / 0.9)
    assert m.perplexity(ref, np.array([0, 0])) == pytest.approx(math.sqrt(2 / 0.9))
    # uniform over 4 tokens: ppl = 4
    assert m.perplexity(np.zeros((3, 4)), np.array([0, 1, 2])) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        m.mean_kl(ref, quant[:1])
    with pytest.raises(ValueError):
        m.perplexity(ref, np.array([0]))
