"""The parallelism axes: validation against each engine's support and the GPUs a suite names (exit 2 with the
reason), and HF tensor parallel for real on the CPU: torchrun's ranks over gloo on the embedded model, outputs
against the unsplit model, every rank torn down on a crash or a timeout."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from harness.plan.points import EngineConfig
from harness.results.frames import load_points
from harness.results.store import Store
from tests.conftest import run_cli

TP_SUITE = """\
name: tp-cpu
engines:
  - adapter: hf
    model: embedded:tiny-llama
    device: cpu
    threads: 1
    tensor_parallel: {tp}
workload: {{input_tokens: 16, output_tokens: 8, batch_size: 2}}
repetitions: 1
warmup: 0
fidelity: true
timeout_s: {timeout}
samplers: [psutil]
"""


def _write(tmp_path: Path, text: str) -> Path:
    suite = tmp_path / "s.yaml"
    suite.write_text(text)
    return suite


@pytest.mark.parametrize(
    ("engine", "field", "reason"),
    [
        ("{adapter: hf, device: cpu, pipeline_parallel: 2}", "pipeline_parallel", "is one device"),
        ("{adapter: hf, device: cuda, tensor_parallel: 2, pipeline_parallel: 2}", "tensor_parallel", "not both"),
        ("{adapter: hf, quantization: int8-weight-only, tensor_parallel: 2}", "tensor_parallel", "torchao-quantized"),
        ("{adapter: hf, device: cuda, visible_gpus: '0', tensor_parallel: [1, 2]}", "tensor_parallel", "names 1"),
        ("{adapter: hf, device: 'cuda:1', tensor_parallel: 2}", "tensor_parallel", "takes `cuda`"),
        ("{adapter: hf, replicas: 2}", "replicas", "does not run it"),
        ("{adapter: llama-cpp, device: cpu, tensor_parallel: 2}", "tensor_parallel", "CUDA GPUs only"),
        ("{adapter: hf, tensor_parallel: 0}", "tensor_parallel", "must be"),
        ("{adapter: hf, tensor_parallel: '2'}", "tensor_parallel", ""),
    ],
)
def test_layouts_an_engine_cannot_run_are_bad_input(tmp_path, cli_env, engine, field, reason):
    suite = _write(tmp_path, f"name: x\nengines: [{engine}]\nworkload: {{input_tokens: 4, output_tokens: 2}}\n")
    out = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    line = out.stderr.strip()
    assert "Traceback" not in line and len(line.splitlines()) == 1, line
    assert f"engines[0].{field}" in line and reason in line, line


def test_point_ids_without_the_axes_are_unchanged():
    """A suite that names no parallelism keeps the point ids (and so stored baselines and --resume) it had."""
    base = dict(
        adapter="hf", model="m", dtype="float32", quantization="none", device="cpu", threads=None,
        visible_gpus=None, args={},
    )  # fmt: skip
    assert "tensor_parallel" not in EngineConfig(**base).identity()
    split = EngineConfig(**base, tensor_parallel=2)
    assert split.identity()["tensor_parallel"] == 2 and split.group_id() != EngineConfig(**base).group_id()
    assert split.device_count == 2 and EngineConfig(**base, pipeline_parallel=2, replicas=3).device_count == 6


def test_vllm_and_llamacpp_get_their_own_names_for_the_split():
    from harness.adapters.llamacpp import split_mode
    from harness.adapters.vllm_offline import parallel_sizes

    base = dict(adapter="vllm", model="m", dtype="auto", quantization="none", device="cuda", threads=None,
                visible_gpus=None, args={})  # fmt: skip
    assert parallel_sizes(EngineConfig(**base)) == {}
    assert parallel_sizes(EngineConfig(**base, tensor_parallel=4, pipeline_parallel=2)) == {
        "tensor_parallel_size": 4,
        "pipeline_parallel_size": 2,
    }
    assert split_mode(EngineConfig(**base)) is None
    assert split_mode(EngineConfig(**base, tensor_parallel=2)) == 2  # LLAMA_SPLIT_MODE_ROW
    assert split_mode(EngineConfig(**base, pipeline_parallel=2)) == 1  # LLAMA_SPLIT_MODE_LAYER


@pytest.mark.slow
def test_hf_tensor_parallel_on_cpu_matches_the_unsplit_model(tmp_path, cli_env):
    """TP=1 and TP=2 (two torchrun ranks over gloo) both run; TP=2's logits agree with the unsplit float32 model
    (fidelity: KL ≈ 0, top-1 agreement 1) and its describe says how it ran."""
    suite = _write(tmp_path, TP_SUITE.format(tp="[1, 2]", timeout=300))
    out = run_cli(["run", str(suite), "--store", str(tmp_path / "s.db")], cli_env, tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    store = Store(str(tmp_path / "s.db"))
    frame = load_points(store)
    assert list(frame["status"]) == ["ok", "ok"], frame[["status", "error"]]
    split = next(
        p for p in store.points(store.runs()[0]["run_id"]) if p["config"]["engine"].get("tensor_parallel") == 2
    )
    parallel = split["describe"]["parallel"]
    assert parallel == {"tensor_parallel": 2, "pipeline_parallel": 1, "world_size": 2, "backend": "gloo",
                        "launcher": "torchrun"}  # fmt: skip
    row = frame[frame["tensor_parallel"] == 2].iloc[0]
    assert row["fidelity_kl_mean"] < 1e-6 and row["fidelity_top1_agreement"] == 1.0
    assert row["output_throughput_tok_s"] > 0


def _harness_ranks() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            env = proc.info["environ"] or {}
        except (psutil.Error, KeyError):
            continue
        if "HARNESS_WORKER_SOCKET" in env and "LOCAL_RANK" in env:
            found.append(proc)
    return found


@pytest.mark.slow
def test_every_rank_is_torn_down_when_a_point_times_out(tmp_path, cli_env):
    """A point that runs past its timeout kills torchrun and both ranks (they live in their own sessions); the
    point is stored failed with the timeout, and no rank outlives the run."""
    suite = _write(tmp_path, TP_SUITE.format(tp=2, timeout=8).replace("output_tokens: 8", "output_tokens: 4000"))
    out = run_cli(["run", str(suite), "--store", str(tmp_path / "s.db")], cli_env, tmp_path, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    frame = load_points(Store(str(tmp_path / "s.db")))
    assert frame.iloc[0]["status"] == "failed" and "timed out" in frame.iloc[0]["error"]
    deadline = time.monotonic() + 10
    while _harness_ranks() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _harness_ranks(), [p.pid for p in _harness_ranks()]


@pytest.mark.slow
def test_a_rank_that_dies_takes_the_point_and_its_siblings_with_it(tmp_path, cli_env):
    """Rank 1 killed mid-point: torchrun ends the group, the point fails with the worker's death, no rank stays."""
    suite = _write(tmp_path, TP_SUITE.format(tp=2, timeout=300).replace("output_tokens: 8", "output_tokens: 4000"))
    env = {**cli_env, "PYTHONUNBUFFERED": "1"}
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(suite), "--store", str(tmp_path / "s.db")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            ranks = [p for p in _harness_ranks() if (p.info["environ"] or {}).get("LOCAL_RANK") == "1"]
            victim = ranks[0] if ranks else None
            time.sleep(0.5)
        assert victim is not None, "rank 1 never started"
        time.sleep(3)  # let it load and start generating
        victim.kill()
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    frame = load_points(Store(str(tmp_path / "s.db")))
    assert frame.iloc[0]["status"] == "failed", frame.iloc[0]["error"]
    assert not _harness_ranks()
    assert os.path.exists(tmp_path / "s.db")


@pytest.mark.slow
def test_ranks_die_with_a_runner_killed_by_sigkill(tmp_path, cli_env):
    """The runner killed with -9 mid-point: torchrun is not the runner, so each rank watches the runner's pid
    (``HARNESS_WORKER_PARENT``) and exits; nothing of the group outlives it."""
    import signal
    import subprocess
    import sys

    suite = _write(tmp_path, TP_SUITE.format(tp=2, timeout=300).replace("output_tokens: 8", "output_tokens: 4000"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(suite), "--store", str(tmp_path / "s.db")],
        env=cli_env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while len(_harness_ranks()) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert len(_harness_ranks()) == 2, "the ranks never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _harness_ranks() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _harness_ranks(), [p.pid for p in _harness_ranks()]
    finally:
        if proc.poll() is None:
            proc.kill()
