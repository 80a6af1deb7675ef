"""What this machine can run: ``harness validate`` says which points will be skipped and why (each engine's own
``check_environment``, each sampler's ``available``), exits 2 only when nothing can run, and a run whose every
point was skipped exits 1 saying nothing was measured and why. Engines refuse misspelt arguments and devices they
do not run on before anything starts.

The interpreters without the engines' extras are real ones: a bare virtual environment (no site packages)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness.adapters.base import AdapterError

from harness.execution.preflight import machine_report
from harness.execution.validate import check_suite
from harness.plan.loader import parse_suite
from harness.plan.points import EngineConfig
from harness.plugins import ADAPTERS, adapter_class
from harness.results.frames import load_points
from tests.conftest import run_cli


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


needs_no_cuda = pytest.mark.skipif("_cuda()", reason="this machine has a CUDA device")


def _no_cuda_reason() -> str:
    from harness.adapters.environment import NO_DRIVER, gpu_driver_present

    return "torch.cuda.is_available() is False" if gpu_driver_present() else NO_DRIVER


NO_CUDA = f"device cuda: no CUDA device visible ({_no_cuda_reason()})"
SUITE = """\
name: devices
engines:
  - adapter: hf
    device: {devices}
workload:
  input_tokens: 4
  output_tokens: 2
  batch_size: [1, 2]
repetitions: 1
warmup: 0
samplers: [psutil]
"""


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter with nothing installed: no torch, transformers, llama-cpp-python, httptools or vllm."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return str(folder / "bin" / "python")


def _engine(adapter: str, device: str = "cpu", **args: object) -> EngineConfig:
    return EngineConfig(
        adapter=adapter,
        model="m",
        dtype="float32",
        quantization="none",
        device=device,
        threads=None,
        visible_gpus=None,
        args=dict(args),
    )


@needs_no_cuda
def test_validate_lists_the_points_it_will_skip_and_why(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(devices="[cpu, cuda]"))
    result = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{suite}: ok — suite 'devices', 4 points in 2 engine groups")
    assert lines[1] == f"  2 points will be skipped: {NO_CUDA}"
    assert result.stderr == ""


@needs_no_cuda
def test_validate_of_a_suite_nothing_of_which_can_run_is_exit_2(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(devices="cuda"))
    result = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {suite}: no point can run on this machine: {NO_CUDA} (2 points)"


@needs_no_cuda
@pytest.mark.timeout(300)
def test_a_run_whose_every_point_was_skipped_exits_1_and_says_why(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(devices="cuda"))
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"2 points will be skipped: {NO_CUDA}" in result.stderr  # said before the run starts
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"nothing was measured: all 2 points were skipped on this machine: {NO_CUDA}"
    points = load_points(str(db))
    assert list(points["status"]) == ["skipped", "skipped"] and set(points["error"]) == {NO_CUDA}


def test_each_engine_says_what_its_interpreter_lacks(bare_python):
    hints = {
        "hf": "torch is not installed in",
        "llama-cpp": "llama_cpp is not installed in",
        "fake-server": "httptools is not installed in",
        "llama-cpp-server": "llama_cpp.server is not installed in",
        "transformers-serve": "fastapi is not installed in",
        "vllm": "vLLM is not installed for this engine",
        "vllm-server": "vllm is not installed in",
    }
    for adapter, hint in hints.items():
        why = adapter_class(adapter).check_environment(_engine(adapter), bare_python)
        assert why is not None and hint in why, (adapter, why)
    # a server attached by URL needs nothing here; an env: not built yet will install what it needs
    assert adapter_class("openai").check_environment(_engine("openai", url="http://127.0.0.1:1"), bare_python) is None
    assert adapter_class("hf").check_environment(_engine("hf"), None) is None


def test_the_harness_interpreter_has_what_the_installed_engines_need():
    for adapter in ("hf", "fake-server"):
        assert adapter_class(adapter).check_environment(_engine(adapter), sys.executable) is None


@needs_no_cuda
def test_cuda_is_checked_by_the_engines_that_run_on_it():
    for adapter in ("hf", "transformers-serve"):
        why = adapter_class(adapter).check_environment(_engine(adapter, "cuda:0"), sys.executable)
        assert why == f"device cuda:0: {NO_CUDA.removeprefix('device cuda: ')}", (adapter, why)


def test_a_sampler_this_machine_lacks_is_a_note_not_a_skip():
    from harness.measure.samplers import sampler_class

    ok, why = sampler_class("rapl").available()
    if ok:
        pytest.skip("this machine has RAPL")
    suite = parse_suite(SUITE.format(devices="cpu").replace("samplers: [psutil]", "samplers: [psutil, rapl]"))
    report = machine_report(suite, check_suite(suite))
    assert report.skipped == {} and report.runnable == 2
    assert report.notes == [f"sampler rapl will be disabled: {why}"]


def test_every_engine_refuses_a_misspelt_argument():
    """Typed ``Args`` everywhere: no installed engine takes an argument it does not know (vLLM's own arguments are
    checked against the vLLM of its environment, tests/test_vllm.py)."""
    for name in ADAPTERS.names():
        if name == "vllm":
            continue
        args = {"url": "http://127.0.0.1:1"} if name == "openai" else {}
        with pytest.raises(AdapterError, match="does not accept engine argument 'not_an_argument'"):
            adapter_class(name).check_args({**args, "not_an_argument": 1}, None)


def test_devices_each_engine_runs_on():
    runs = {
        "hf": ("cpu", "cuda", "cuda:1"),
        "llama-cpp": ("cpu", "cuda"),
        "vllm": ("cpu", "cuda"),
        "vllm-server": ("cpu", "cuda"),
        "llama-cpp-server": ("cpu", "cuda"),
        "fake-server": ("cpu",),
    }
    refused = {"hf": ("gpu", "cuda:x"), "llama-cpp": ("cuda:1",), "vllm": ("cuda:0",), "fake-server": ("cuda",)}
    for adapter, devices in runs.items():
        for device in devices:
            adapter_class(adapter).check_device(device)
    for adapter, devices in refused.items():
        for device in devices:
            with pytest.raises(AdapterError, match=rf"does not run on '{device}'; it runs on: cpu"):
                adapter_class(adapter).check_device(device)


def test_llama_cpp_server_offloads_on_cuda(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    for device, offload in (("cuda", True), ("cpu", False)):
        engine = _engine("llama-cpp-server", device).model_copy(update={"model": str(model)})
        launcher = adapter_class("llama-cpp-server")(engine)
        launcher.port = 1
        assert (launcher.server_command()[-2:] == ["--n_gpu_layers", "-1"]) is offload


def test_misspelt_engine_argument_and_bad_url_are_exit_2_at_validate(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nengines:\n  - adapter: openai\n    args: {url: 'https://example.com'}\n"
        "workload: {kind: serving, rate: 1}\n"
    )
    result = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert result.returncode == 2
    assert "engines[0].args: url: 'https://example.com': only http:// URLs are supported" in result.stderr
