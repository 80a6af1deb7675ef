"""Statistical properties of the gate on seeded synthetic data (no timing involved)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.gate.config import GateConfig, direction
from harness.gate.stats import compare_metric, min_repetitions
from harness.gate.verdicts import environment_changes, gate_runs

DEFAULT_REPS = 5  # the repetitions the README recommends for gated suites
NOISE_CV = 0.03  # 3% run-to-run noise, typical of a quiet CPU or GPU runner


def trial(rng, shift: float, reps: int = DEFAULT_REPS, cv: float = NOISE_CV) -> str:
    base = list(100 * (1 + cv * rng.standard_normal(reps)))
    cand = list(100 * shift * (1 + cv * rng.standard_normal(reps)))
    return compare_metric("p", "tpot_ms_p50", base, cand, threshold_pct=5.0, alpha=0.05, better="lower").verdict


def test_same_distribution_is_a_regression_in_at_most_5_percent_of_trials():
    rng = np.random.default_rng(1234)
    for cv in (0.01, 0.03, 0.10, 0.30):  # whatever the noise, false alarms stay under alpha
        verdicts = [trial(rng, 1.0, cv=cv) for _ in range(2000)]
        assert verdicts.count("regression") / len(verdicts) <= 0.05, cv


def test_a_10_percent_slowdown_is_caught_in_at_least_90_percent_of_trials():
    rng = np.random.default_rng(99)
    verdicts = [trial(rng, 1.10) for _ in range(2000)]
    assert verdicts.count("regression") / len(verdicts) >= 0.90


def test_a_10_percent_throughput_drop_is_a_regression_and_a_gain_is_not():
    rng = np.random.default_rng(7)
    base = list(1000 * (1 + 0.02 * rng.standard_normal(5)))
    slower = [v * 0.85 for v in base]
    faster = [v * 1.15 for v in base]
    assert direction("output_throughput_tok_s") == "higher"
    drop = compare_metric("p", "output_throughput_tok_s", base, slower, 5.0, 0.05, "higher")
    gain = compare_metric("p", "output_throughput_tok_s", base, faster, 5.0, 0.05, "higher")
    assert drop.verdict == "regression" and drop.change_pct == pytest.approx(-15.0)
    assert gain.verdict == "improvement"


def test_too_few_repetitions_is_inconclusive_not_a_regression():
    # 2 repetitions: the smallest one-sided Mann-Whitney p is 1/C(4,2) = 1/6 > 0.05
    result = compare_metric("p", "ttft_ms_p50", [100, 101], [150, 151], 5.0, 0.05, "lower")
    assert result.verdict == "inconclusive"
    assert "need ≥ 3 repetitions" in result.note
    assert min_repetitions(0.05) == 3  # 1/C(6,3) = 1/20 = 0.05 ≤ alpha < 1/C(4,2) = 1/6
    assert min_repetitions(0.01) == 5  # 1/C(10,5) = 1/252 ≤ 0.01 < 1/C(8,4) = 1/70


def test_change_inside_threshold_is_no_change_even_if_significant():
    result = compare_metric("p", "ttft_ms_p50", [100.0] * 3 + [100.1, 100.2], [103.0] * 5, 5.0, 0.05, "lower")
    assert result.verdict == "no change" and result.change_pct == pytest.approx(3.0)  # medians 100 → 103


def _run(run_id, values, status="ok", fp=None):
    return {
        "run": {"run_id": run_id, "fingerprint": fp or {"cpu_model": "x", "packages": {"torch": "2.13"}}},
        "points": [
            {"point_id": "a", "label": "batch_size=1", "status": status, "error": None if status == "ok" else "boom"}
        ],
        "reps": {"a": {"tpot_ms_p50": values}},
    }


def test_gate_reports_failed_points_and_environment_changes():
    config = GateConfig()
    report = gate_runs(_run("b", [10] * 5), _run("c", [], status="failed"), config)
    assert report.failed and report.comparisons[0].verdict == "failed"
    changed = _run("c", [10] * 5, fp={"cpu_model": "y", "packages": {"torch": "2.14"}})
    report = gate_runs(_run("b", [10] * 5), changed, config)
    assert not report.failed
    assert report.environment_changes == ["cpu_model: x → y", "torch: 2.13 → 2.14"]


def test_environment_changes_cover_gpus_and_driver():
    a = {"gpus": [{"name": "H100"}], "driver": "550"}
    b = {"gpus": [{"name": "A100"}], "driver": "560"}
    assert environment_changes(a, b) == ["driver: 550 → 560", "gpus: ['H100'] → ['A100']"]
