"""Records are validated before they are measured: data that cannot be true fails its point with the reason."""

from __future__ import annotations

import pytest

from harness.records import RequestRecord, first_impossible, impossible
from harness.results.store import Store
from tests.conftest import run_cli

MS = 1_000_000


def rec(**kw) -> RequestRecord:
    base = dict(
        index=0,
        t_sched_ns=0,
        t_send_ns=0,
        t_first_ns=10 * MS,
        t_end_ns=30 * MS,
        chunk_times_ns=[10 * MS, 20 * MS, 30 * MS],
        chunk_tokens=[1, 1, 1],
        n_in=4,
        n_out=3,
    )
    return RequestRecord(**{**base, **kw})


def test_a_possible_record_passes():
    assert impossible(rec()) is None
    assert impossible(rec(t_first_ns=None, t_end_ns=None, chunk_times_ns=[], chunk_tokens=[], error="x")) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"t_sched_ns": 2000 * MS, "t_send_ns": 2000 * MS}, "before the request was scheduled (negative latency)"),
        ({"chunk_times_ns": [10 * MS, 30 * MS, 20 * MS], "t_end_ns": 20 * MS}, "token times out of order"),
        ({"t_first_ns": 30 * MS, "t_end_ns": 10 * MS, "chunk_times_ns": []}, "TTFT > E2E"),
        ({"t_first_ns": -5 * MS, "chunk_times_ns": []}, "negative TTFT"),
        ({"t_send_ns": -1}, "sent before it was scheduled"),
        ({"n_out": -3}, "negative n_out"),
        ({"n_in": -1}, "negative n_in"),
        ({"chunk_tokens": [1, -1, 1]}, "negative number of tokens"),
    ],
)
def test_impossible_records_are_named(fields, reason):
    why = impossible(rec(**fields))
    assert why is not None and reason in why and why.startswith("request 0: ")
    assert first_impossible([rec(), rec(**fields)]) == why


SUITE = """\
name: impossible
engines:
  - adapter: echo
    dtype: none
    args: {step_ms: 1, prefill_ms: 1, negative_latency_on_batch: 2}
workload:
  input_tokens: 4
  output_tokens: 3
  batch_size: [1, 2]
repetitions: 1
warmup: 0
samplers: []
"""


def test_an_engine_returning_impossible_timings_fails_its_point_with_the_reason(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    db = str(tmp_path / "r.db")
    result = run_cli(["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    points = {p["label"]: p for p in Store(db).points(Store(db).runs()[-1]["run_id"])}
    assert points["batch_size=1"]["status"] == "ok"
    bad = points["batch_size=2"]
    assert bad["status"] == "failed"
    assert bad["error"].startswith("impossible data in repetition 0: request 0: a token arrived before"), bad["error"]
