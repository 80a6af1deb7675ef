"""Every engine declares its arguments: a misspelt one is refused at validation with the closest name, and typed
values reach the engine (no silent fallback to a default)."""

from __future__ import annotations

import pytest
from harness.adapters.base import AdapterError

from harness.execution.validate import check_suite
from harness.plan.loader import parse_suite
from harness.plan.points import EngineConfig
from harness.plan.schema import SuiteError
from harness.plugins import adapter_class
from tests.conftest import run_cli

MISSPELT = {
    "hf": ({"attn_implmentation": "sdpa"}, "attn_implementation"),
    "llama-cpp": ({"n_ctxx": 512}, "n_ctx"),
    "openai": ({"url": "http://127.0.0.1:1", "conect_timeout_s": 1}, "connect_timeout_s"),
    "fake-server": ({"ttft_mss": 5}, "ttft_ms"),
    "llama-cpp-server": ({"startup_timeout": 5}, "startup_timeout_s"),
    "transformers-serve": ({"server_arg": {}}, "server_args"),
    "vllm-server": ({"max_model_length": 64}, "max_model_len"),
}


@pytest.mark.parametrize("adapter", sorted(MISSPELT))
def test_a_misspelt_argument_names_the_closest_one(adapter: str):
    args, meant = MISSPELT[adapter]
    with pytest.raises(AdapterError, match=rf"does not accept engine argument .*\(did you mean '{meant}'\?\)"):
        adapter_class(adapter).check_args(args, None)


def test_wrong_types_and_missing_required_arguments_are_one_line():
    with pytest.raises(AdapterError, match="startup_timeout_s: Input should be greater than 0"):
        adapter_class("fake-server").check_args({"startup_timeout_s": -1}, None)
    with pytest.raises(AdapterError, match="url: required by adapter openai"):
        adapter_class("openai").check_args({}, None)
    with pytest.raises(AdapterError, match="attn_implementation: Input should be 'eager'"):
        adapter_class("hf").check_args({"attn_implementation": "fast"}, None)


def test_typed_values_reach_the_engine():
    engine = EngineConfig(
        adapter="fake-server",
        model="m",
        dtype="float32",
        quantization="none",
        device="cpu",
        threads=None,
        visible_gpus=None,
        args={"ttft_ms": 7, "fault": "no_usage", "served_model_name": "x"},
    )
    launcher = adapter_class("fake-server")(engine)
    launcher.port = 1234
    command = launcher.server_command()
    assert command[command.index("--ttft-ms") + 1] == "7.0" and "no_usage" in command
    assert launcher.served_model == "x" and launcher.args.startup_timeout_s == 300


def test_every_value_of_a_swept_argument_is_checked():
    suite = parse_suite(
        "name: s\nengines:\n  - adapter: hf\n    args: {attn_implementation: [eager, sdpaa]}\n", "s.yaml"
    )
    with pytest.raises(SuiteError, match=r"s.yaml:4: engines\[0\].args: attn_implementation: Input should be"):
        check_suite(suite)


def test_validate_refuses_a_misspelt_hf_argument(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nengines:\n  - adapter: hf\n    args: {attn_implmentation: sdpa}\n")
    result = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert result.returncode == 2
    assert "did you mean 'attn_implementation'" in result.stderr and len(result.stderr.splitlines()) == 1


def test_hf_generation_options_are_validated_per_swept_value(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: x\nengines:\n  - adapter: hf\n    args: {cache_implementation: [dynamic, staticc], compile: [true]}\n"
    )
    bad = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert bad.returncode == 2 and "cache_implementation" in bad.stderr and "Traceback" not in bad.stderr
    suite.write_text("name: x\nengines:\n  - adapter: hf\n    args: {attn_implementation: flash, compile: maybe}\n")
    bad = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert bad.returncode == 2 and "attn_implementation" in bad.stderr
    axes = "{cache_implementation: [dynamic, static], compile: [false, true]}"
    suite.write_text(f"name: x\nengines:\n  - adapter: hf\n    args: {axes}\n")
    ok = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert ok.returncode == 0 and "4 points" in ok.stdout, ok.stderr
