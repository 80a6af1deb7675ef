"""Rate sweep and SLO search: the decision formulas by hand, the search logic on a modelled server, and the SLO
search end to end on a real server of known capacity."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics import WindowSLO, is_saturated, meets_p99_slo
from harness.plan.schema import ServingSearchSpec
from harness.scenarios.rate_search import rate_sweep, slo_search
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_saturation_and_slo_formulas():
    assert not is_saturated(100.0, 95.0, 90)  # 95 ≥ 0.9 × 100
    assert is_saturated(100.0, 89.9, 90)
    assert is_saturated(100.0, None)
    slo = WindowSLO(ttft_ms=100, tpot_ms=10)
    assert meets_p99_slo({"ttft_ms_p99": 100.0, "tpot_ms_p99": 10.0, "error_count": 0}, slo)  # limits inclusive
    assert not meets_p99_slo({"ttft_ms_p99": 100.1, "tpot_ms_p99": 1.0}, slo)
    assert not meets_p99_slo({"ttft_ms_p99": 10.0, "tpot_ms_p99": 10.5}, slo)
    assert meets_p99_slo({"ttft_ms_p99": 10.0, "tpot_ms_p99": None}, slo)  # no request had a TPOT
    assert not meets_p99_slo({"ttft_ms_p99": 10.0, "tpot_ms_p99": 1.0, "error_count": 1}, slo)
    assert not meets_p99_slo({"ttft_ms_p99": None}, slo)


def modelled_server(capacity: float, calls: list):
    """Serves up to ``capacity`` req/s; p99 TTFT 20 ms below 80% of capacity, growing steeply above it."""

    def trial(label, arrival, rate, concurrency):
        calls.append((arrival, rate, concurrency))
        if rate is None:
            achieved = capacity / 10 if concurrency == 1 else capacity
            return {"request_throughput_req_s": achieved, "ttft_ms_p99": 20.0, "tpot_ms_p99": 5.0}
        load = rate / capacity
        ttft = 20.0 if load <= 0.8 else 20.0 + (load - 0.8) * 2000
        return {
            "request_throughput_req_s": min(rate, capacity),
            "ttft_ms_p99": ttft,
            "tpot_ms_p99": 5.0,
            "error_count": 0,
        }

    return trial


def test_rate_sweep_bounds_rates_and_saturation():
    calls: list = []
    res = rate_sweep(
        ServingSearchSpec(mode="rate_sweep", rates=4, max_concurrency=32), "poisson", modelled_server(100.0, calls)
    )
    assert calls[0] == ("concurrency", None, 1) and calls[1] == ("concurrency", None, 32)
    assert [round(c[1], 6) for c in calls[2:]] == [28.0, 46.0, 64.0, 82.0]  # evenly between 10 and 100
    assert res.found["rate_req_s"] == 82.0 and not any(t.verdict == "saturated" for t in res.trials)


def test_slo_search_bisects_to_the_knee():
    calls: list = []
    spec = ServingSearchSpec(mode="slo", max_trials=12, tolerance_pct=1)
    res = slo_search(spec, "constant", WindowSLO(ttft_ms=100), modelled_server(100.0, calls))
    # p99 TTFT ≤ 100 ms ⇔ 20 + (load − 0.8) × 2000 ≤ 100 ⇔ load ≤ 0.84 → 84 req/s
    assert 83.0 <= res.found["rate_req_s"] <= 84.0
    assert len(calls) <= 12
    few = slo_search(
        ServingSearchSpec(mode="slo", max_trials=4), "constant", WindowSLO(ttft_ms=100), modelled_server(100.0, [])
    )
    assert len(few.trials) <= 4


@pytest.mark.slow
def test_slo_search_on_a_server_of_known_capacity(tmp_path, cli_env):
    """One slot, 40 ms per request: capacity 25 req/s. Constant arrivals below it queue nothing (TTFT ≈ 40 ms);
    above it the queue grows through the window (TTFT p99 in the hundreds of ms)."""
    suite = tmp_path / "slo.yaml"
    suite.write_text("""
name: slo-known
engines:
  - adapter: fake-server
    model: fake
    args: {ttft_ms: 40, max_concurrency: 1}
workload:
  kind: serving
  arrival: constant
  num_requests: 60
  duration_s: 4
  input_tokens: 4
  output_tokens: 1
search: {mode: slo, rate_min: 5, rate_max: 60, max_trials: 7, tolerance_pct: 5}
repetitions: 1
warmup: 0
timeout_s: 60
samplers: []
slo: {ttft_ms: 200}
""")
    res = run_cli(["run", str(suite), "-s", str(tmp_path / "r.db"), "--no-progress"], cli_env, ROOT, timeout=200)
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stderr.splitlines() if "largest rate meeting the SLO" in ln)
    rate = float(line.split("SLO: ")[1].split()[0])
    assert 12 <= rate <= 27, line
    from harness.results.frames import load_points

    points = load_points(str(tmp_path / "r.db"))
    assert 3 <= len(points) <= 7 and (points["status"] == "ok").all()  # every trial stored
