"""The runner end to end through the CLI, on a third-party engine plugin: isolation, timeouts, resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results.frames import load_points, load_requests
from harness.results.store import Store
from tests.conftest import run_cli

SUITE = """\
name: echo
engines:
  - adapter: echo
    dtype: none
    args: {{step_ms: 1, prefill_ms: 2{extra}}}
workload:
  input_tokens: 8
  output_tokens: 5
  batch_size: [1, 2, 3]
repetitions: 2
warmup: 1
timeout_s: {timeout}
samplers:
  psutil: {{interval_ms: 10}}
"""


def write_suite(tmp_path: Path, extra: str = "", timeout: float = 60) -> Path:
    path = tmp_path / "echo.yaml"
    path.write_text(SUITE.format(extra=extra, timeout=timeout))
    return path


def test_plugin_engine_runs_a_sweep_without_touching_core(tmp_path, cli_env):
    suite = write_suite(tmp_path)
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    points = load_points(str(db))
    assert list(points["status"]) == ["ok"] * 3
    assert list(points["batch_size"]) == [1, 2, 3]
    # 5 tokens at ~1 ms per step: output throughput scales with the batch
    assert (points["output_throughput_tok_s"].diff().dropna() > 0).all()
    requests = load_requests(str(db), points["run_id"][0])
    # 2 repetitions × (1 + 2 + 3) sequences; warmup is not stored
    assert len(requests) == 2 * 6
    assert all(len(t) == 5 for t in requests["chunk_times_ns"])
    assert points["mem_peak_rss_bytes"].gt(10e6).all()


def test_a_crashing_point_is_stored_as_failed_and_the_sweep_goes_on(tmp_path, cli_env):
    suite = write_suite(tmp_path, extra=", kill_on_batch: 2")
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1
    points = load_points(str(db))
    assert list(points["status"]) == ["ok", "failed", "ok"]
    assert "SIGKILL" in points["error"][1] and "out of memory" in points["error"][1]


def test_an_engine_exception_fails_only_its_point(tmp_path, cli_env):
    suite = write_suite(tmp_path, extra=", raise_on_batch: 3")
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1
    points = load_points(str(db))
    assert list(points["status"]) == ["ok", "ok", "failed"]
    assert points["error"][2] == "out of memory: MemoryError: simulated allocation failure"


def test_a_hanging_point_times_out(tmp_path, cli_env):
    suite = write_suite(tmp_path, extra=", hang_on_batch: 1", timeout=3)
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1
    points = load_points(str(db))
    assert list(points["status"]) == ["failed", "ok", "ok"]
    assert "timed out after 3s" in points["error"][0]


@pytest.mark.slow
def test_kill_9_then_resume_keeps_and_skips_stored_points(tmp_path, cli_env):
    suite = tmp_path / "slow.yaml"
    suite.write_text(
        SUITE.format(extra="", timeout=60)
        .replace("step_ms: 1", "step_ms: 60")
        .replace("batch_size: [1, 2, 3]", "batch_size: [1, 2, 3, 4, 5, 6]")
    )
    db = tmp_path / "r.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(suite), "--store", str(db), "--no-progress"],
        env=cli_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    store = Store(str(db))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = store.runs()
        if runs and runs[0]["points"].get("ok", 0) >= 2:
            break
        time.sleep(0.1)
    import os

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id = store.runs()[0]["run_id"]
    before = {p["point_id"]: p for p in store.points(run_id) if p["status"] == "ok"}
    assert 2 <= len(before) < 6
    result = run_cli(["run", str(suite), "--store", str(db), "--resume", "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{len(before)} of 6 points already stored" in result.stderr
    after = {p["point_id"]: p for p in store.points(run_id)}
    assert len(after) == 6 and all(p["status"] == "ok" for p in after.values())
    for point_id, row in before.items():  # kept as they were, not recomputed
        assert after[point_id]["finished_ns"] == row["finished_ns"]
    assert len(store.runs()) == 1
