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


def test_a_metric_gone_from_the_candidate_is_a_regression_not_a_pass():
    """Found by fault injection: a candidate whose requests all failed had no throughput at all, and the gate
    passed it (`PASS: 5 missing`). A metric the baseline measured and the candidate lacks fails the gate."""
    gone = compare_metric("p", "goodput_req_s", [5.0, 5.1, 5.2], [], 5.0, 0.05, "higher")
    assert gone.verdict == "regression" and "gone from the candidate" in gone.note
    new = compare_metric("p", "goodput_req_s", [], [5.0], 5.0, 0.05, "higher")
    assert new.verdict == "new"
    base = _run("b", [10.0] * 5)
    cand = _run("c", [10.0] * 5)
    base["reps"]["a"]["goodput_req_s"] = [5.0] * 5
    report = gate_runs(base, cand, GateConfig())
    assert report.failed and report.summary_line().startswith("REGRESSION")


def test_error_rate_is_gated_lower_is_better():
    assert "error_rate" in GateConfig().metrics and direction("error_rate") == "lower"
    result = compare_metric("p", "error_rate", [0.0] * 5, [0.2, 0.25, 0.2, 0.3, 0.2], 5.0, 0.05, "lower")
    assert result.verdict == "regression" and result.change_pct == float("inf")


def test_nothing_testable_is_inconclusive_not_pass():
    # 2 repetitions: a +50% TPOT cannot be confirmed, so the run cannot pass
    report = gate_runs(_run("b", [100.0, 101.0]), _run("c", [150.0, 151.0]), GateConfig())
    assert not report.failed and report.inconclusive and report.result == "inconclusive"
    line = report.summary_line()
    assert line.startswith("INCONCLUSIVE: 1 inconclusive") and "too few repetitions" in line, line
    assert report.to_dict()["result"] == "inconclusive"
    # a real pass: changes within the threshold on enough repetitions
    assert gate_runs(_run("b", [100.0] * 5), _run("c", [101.0] * 5), GateConfig()).result == "pass"


def test_two_runs_whose_points_all_skipped_are_inconclusive_and_a_skip_is_not_called_a_failure():
    base, cand = _run("b", [], status="skipped"), _run("c", [], status="skipped")
    report = gate_runs(base, cand, GateConfig())
    assert report.result == "inconclusive" and "nothing could be tested" in report.summary_line()
    (only,) = report.comparisons
    assert only.verdict == "missing" and "skipped in both runs" in only.note and "failed" not in only.note
    # a candidate that skipped what the baseline measured is untested, not failed
    report = gate_runs(_run("b", [10.0] * 5), _run("c", [], status="skipped"), GateConfig())
    assert not report.failed and report.comparisons[0].note == "candidate point skipped: boom"


def test_a_point_missing_from_the_candidate_fails_the_gate():
    cand = _run("c", [10.0] * 5)
    cand["points"] = [dict(cand["points"][0], point_id="other")]
    cand["reps"] = {"other": cand["reps"]["a"]}
    base = _run("b", [10.0] * 5)
    base["points"].append(dict(base["points"][0], point_id="other"))
    base["reps"]["other"] = base["reps"]["a"]
    report = gate_runs(base, cand, GateConfig())
    assert report.failed
    assert [c.note for c in report.comparisons if c.verdict == "failed"] == ["point missing from the candidate run"]


def test_an_unconfirmed_improvement_does_not_make_the_run_inconclusive():
    base, cand = _run("b", [150.0, 151.0]), _run("c", [100.0, 101.0])  # TPOT −33%, 2 repetitions
    base["reps"]["a"]["error_rate"] = cand["reps"]["a"]["error_rate"] = [0.0, 0.0]
    report = gate_runs(base, cand, GateConfig())
    assert sorted(c.verdict for c in report.comparisons) == ["inconclusive", "no change"] and report.result == "pass"
    # an unconfirmed improvement alone tested nothing
    assert gate_runs(_run("b", [150.0, 151.0]), _run("c", [100.0, 101.0]), GateConfig()).result == "inconclusive"
    worse = gate_runs(_run("b", [100.0, 90.0, 110.0]), _run("c", [130.0, 90.0, 140.0]), GateConfig())
    assert worse.result == "inconclusive" and "1 change for the worse beyond its threshold" in worse.summary_line()
