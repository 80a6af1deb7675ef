"""Every formula of harness/metrics.py against an example computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import metrics as m
from harness.records import RequestRecord

MS = 1_000_000  # ns per ms


def req(t_sched, t_send, chunks, tokens=None, n_out=None, n_in=10, batch_index=0, error=None, index=0):
    """A request from times given in ms."""
    chunks_ns = [int(c * MS) for c in chunks]
    tokens = tokens or [1] * len(chunks)
    return RequestRecord(
        index=index, batch_index=batch_index, t_sched_ns=int(t_sched * MS), t_send_ns=int(t_send * MS),
        t_first_ns=chunks_ns[0] if chunks_ns and not error else None,
        t_end_ns=chunks_ns[-1] if chunks_ns and not error else None,
        chunk_times_ns=chunks_ns, chunk_tokens=tokens, n_in=n_in,
        n_out=n_out if n_out is not None else sum(tokens), error=error,
    )


def test_request_ttft_e2e_tpot_itl():
    r = req(100, 100, [150, 160, 175, 200])
    got = m.request_metrics(r)
    assert got.ttft_ms == 50.0  # 150 − 100
    assert got.e2e_ms == 100.0  # 200 − 100
    assert got.tpot_ms == pytest.approx(50 / 3)  # (100 − 50) / (4 − 1)
    assert got.itl_ms == [10.0, 15.0, 25.0]  # 160−150, 175−160, 200−175


def test_open_loop_ttft_counts_from_the_scheduled_time():
    # scheduled at 100 ms, the client only sent at 130 ms: TTFT still 150 − 100 = 50 ms, send lag 30 ms
    got = m.request_metrics(req(100, 130, [150, 170]))
    assert got.ttft_ms == 50.0
    assert got.send_lag_ms == 30.0


def test_a_multi_token_chunk_is_one_itl_gap():
    # chunks at 150 (1 token), 170 (3 tokens), 180 (1 token): n_out = 5, gaps 20 and 10 — two gaps, not four
    got = m.request_metrics(req(100, 100, [150, 170, 180], tokens=[1, 3, 1]))
    assert got.itl_ms == [20.0, 10.0]
    assert got.tpot_ms == pytest.approx((80 - 50) / (5 - 1))  # 7.5


def test_tpot_needs_two_tokens():
    assert m.request_metrics(req(0, 0, [40])).tpot_ms is None


def test_failed_request_has_no_latency():
    assert m.request_metrics(req(0, 0, [], error="HTTP 500")) is None


def test_distribution_linear_interpolation():
    d = m.distribution([1, 2, 3, 4, 5])
    # rank = q/100 × (n − 1): p90 → 3.6 → 4 + 0.6 × (5 − 4) = 4.6 ; p50 → 2 → 3 ; p99 → 3.96 → 4.96
    assert d["p50"] == 3.0
    assert d["p90"] == pytest.approx(4.6)
    assert d["p95"] == pytest.approx(4.8)
    assert d["p99"] == pytest.approx(4.96)
    assert d["mean"] == 3.0
    assert d["std"] == pytest.approx(math.sqrt(2))  # population: mean of (4,1,0,1,4) = 2
    assert m.distribution([])["p50"] is None


def test_offline_batch_prefill_and_decode_throughput():
    # batch of 2 submitted at 0 ms; both stream 4 tokens at 30, 40, 50, 60 ms
    batch = [req(0, 0, [30, 40, 50, 60], index=i) for i in range(2)]
    got = m.batch_metrics(batch)
    assert got["prefill_ms"] == 30.0  # first token of the batch − submission
    # batch × (n_out − 1) / (t_end − t_first) = 2 × 3 / 0.030 s = 200 tok/s
    assert got["decode_throughput_tok_s"] == pytest.approx(200.0)


def test_window_throughputs_goodput_and_errors():
    slo = m.WindowSLO(ttft_ms=60, tpot_ms=20)
    records = [
        # TTFT 50, TPOT (100 − 50)/4 = 12.5 → meets both SLOs
        req(0, 0, [50, 60, 70, 80, 100], n_in=10, index=0),
        # TTFT 70 (> 60) → misses
        req(100, 100, [170, 180, 190, 200, 210], n_in=10, index=1),
        # failed: stays in request_count and error_count, never in latency distributions
        req(150, 150, [], error="stream broke", index=2),
        # TTFT 40, TPOT (400 − 40)/4 = 90 (> 20) → misses; window ends at 200 + 400 = 600 ms
        req(200, 200, [240, 300, 400, 500, 600], n_in=10, index=3),
    ]
    got = m.window_metrics(records, slo)
    assert got["request_count"] == 4 and got["error_count"] == 1 and got["error_rate"] == 0.25
    assert got["window_s"] == pytest.approx(0.6)  # max t_end 600 − min t_sched 0
    assert got["output_throughput_tok_s"] == pytest.approx(15 / 0.6)  # 3 × 5 tokens / 0.6 s = 25
    assert got["total_token_throughput_tok_s"] == pytest.approx((15 + 30) / 0.6)  # 75
    assert got["request_throughput_req_s"] == pytest.approx(3 / 0.6)  # 5
    assert got["goodput_req_s"] == pytest.approx(1 / 0.6)  # only request 0 meets every SLO
    assert got["slo_attainment"] == pytest.approx(0.25)  # 1 of 4 sent
    # TTFTs 50, 70, 40 → sorted 40, 50, 70: p50 = 50, mean = 160 / 3
    assert got["ttft_ms_p50"] == 50.0
    assert got["ttft_ms_mean"] == pytest.approx(160 / 3)
    assert got["e2e_ms_p50"] == 110.0  # E2Es 100, 110, 400


def test_window_with_no_finished_request_has_no_throughput():
    got = m.window_metrics([req(0, 0, [], error="refused")])
    assert got["output_throughput_tok_s"] is None and got["error_count"] == 1


def test_bootstrap_median_ci_is_seeded_and_brackets_the_median():
    values = [10.0, 11.0, 9.0, 10.5, 9.5]
    a = m.bootstrap_median_ci(values, seed=0)
    b = m.bootstrap_median_ci(values, seed=0)
    assert a == b
    median, low, high = a
    assert median == 10.0  # sorted 9, 9.5, 10, 10.5, 11
    assert 9.0 <= low <= median <= high <= 11.0
    assert m.bootstrap_median_ci([7.0]) == (7.0, 7.0, 7.0)
    assert m.bootstrap_median_ci([]) == (None, None, None)


def test_aggregate_repetitions_takes_the_median_of_each_metric():
    agg = m.aggregate_repetitions([{"x": 1.0}, {"x": 3.0}, {"x": 2.0, "y": None}])
    assert agg["x"][0] == 2.0
    assert agg["y"] == (None, None, None)


def test_trapezoidal_energy():
    # 100 W for 1 s then ramp to 200 W over 1 s: 100 × 1 + (100 + 200)/2 × 1 = 250 J
    assert m.integrate_power_j([0, 10**9, 2 * 10**9], [100, 100, 200]) == pytest.approx(250.0)
    assert m.integrate_power_j([0], [100]) is None


def test_counter_delta_with_wraparound():
    assert m.counter_delta(100, 250) == 150
    # RAPL counter wrapped at 1000: (1000 − 900) + 50 = 150
    assert m.counter_delta(900, 50, max_range=1000) == 150
    with pytest.raises(ValueError):
        m.counter_delta(900, 50)


def test_net_energy_and_per_token():
    assert m.net_energy_j(500.0, idle_w=50.0, duration_s=4.0) == 300.0  # 500 − 50 × 4
    assert m.energy_per_token_j(300.0, 600) == 0.5
    assert m.energy_per_token_j(300.0, 0) is None


def test_flops_mfu_mbu_roofline():
    # 2 × 1e6 params + 2 × 4 layers × 100 context × 256 d_model = 2e6 + 204800
    assert m.flops_per_token(1e6, 4, 100, 256) == 2_204_800
    assert m.mfu(50e12, 200e12) == 0.25
    assert m.mbu(1e12, 2e12) == 0.5
    # compute 1e12 / 1e12 = 1 s, memory 3e9 / 1e9 = 3 s → 3 s
    assert m.idealized_runtime_s(1e12, 3e9, 1e12, 1e9) == 3.0


def test_quantization_fidelity():
    assert m.compression_rate(400, 100) == 4.0
    ref = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    quant = np.log(np.array([[0.25, 0.75], [0.9, 0.1]]))
    # KL row 1: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 (ln 2 + ln 2/3) = 0.5 ln(4/3); row 2: 0 → mean ln(4/3)/4
    assert m.mean_kl(ref, quant) == pytest.approx(math.log(4 / 3) / 4)
    assert m.top1_agreement(ref, quant) == 0.5  # row 1: argmax 0 vs 1; row 2 agrees
    # targets 0, 0: NLL = −ln 0.5 and −ln 0.9 → ppl = exp((ln 2 + ln(1/0.9)) / 2) = sqrt(2 / 0.9)
    assert m.perplexity(ref, np.array([0, 0])) == pytest.approx(math.sqrt(2 / 0.9))
