"""Hugging Face transformers, in process: batched greedy generation with exact output lengths.

Token timestamps come from a streamer that ``generate`` calls once per decoding step (after the step's tokens are
copied to the host, so on CUDA the time is when the tokens exist, not when the kernel was queued).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from typing import Any, ClassVar, Literal

from harness.adapters.base import AdapterError, InProcessAdapter, Unsupported
from harness.adapters.environment import cuda_problem, missing
from harness.adapters.hf_assisted import ASSISTED_ARGS, Assisted, AssistedArgs, check_assisted_point
from harness.adapters.hf_parallel import check_hf_split, parallel_facts, split_device, split_kwargs
from harness.adapters.hf_streamer import StepClock
from pydantic import Field

from harness.hints import install_hint
from harness.plan.points import EngineConfig, ServingWorkloadConfig, WorkloadConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import Prompt

DTYPES = ("float32", "bfloat16", "float16")
INSTALL_HINT = install_hint("torch")
# quantization name → torchao config class (weight quantization applied after loading, on CPU or CUDA)
TORCHAO = {
    "int8-weight-only": ("Int8WeightOnlyConfig", {}),
    "int8-dynamic": ("Int8DynamicActivationInt8WeightConfig", {}),
    "int4-weight-only": ("Int4WeightOnlyConfig", {"group_size": 64}),
}


Attention = Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"]
Cache = Literal["dynamic", "static", "offloaded", "offloaded_static"]
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
FLASH_PACKAGES = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}
GENERATION_ARGS = {"cache_implementation", "compile", "compile_mode"}


class HFArgs(AssistedArgs):
    """Arguments of the ``hf`` engine: ``from_pretrained`` options the harness knows, and any other as
    ``from_pretrained`` (passed through as given); ``generate`` options that decide how close HF gets to the
    hardware's bound (each may be a sweep axis: ``args: {cache_implementation: [dynamic, static]}``)."""

    attn_implementation: Attention | None = Field(default=None, description="eager, sdpa, flash_attention_2 …")
    low_cpu_mem_usage: bool | None = None
    cache_implementation: Cache | None = Field(
        default=None, description="generate()'s KV cache: dynamic (grows per step) or static (preallocated)"
    )
    compile: bool | None = Field(
        default=None,
        description="torch.compile the forward: true always, false never; unset: transformers decides (it "
        "compiles the forward when the cache is static, on CUDA)",
    )
    compile_mode: CompileMode | None = Field(
        default=None, description="torch.compile mode (default: reduce-overhead with a static cache, else default)"
    )
    from_pretrained: dict[str, Any] = Field(default_factory=dict, description="other from_pretrained keywords")

    def load_kwargs(self) -> dict[str, Any]:
        known = self.model_dump(exclude={"from_pretrained", *GENERATION_ARGS, *ASSISTED_ARGS}, exclude_none=True)
        return {**self.from_pretrained, **known}

    @property
    def static_cache(self) -> bool:
        return self.cache_implementation in ("static", "offloaded_static")

    def torch_compile_mode(self) -> str:
        return self.compile_mode or ("reduce-overhead" if self.static_cache else "default")

    def compile_plan(self) -> str:
        """Who compiles what: ``transformers`` (its own compile of the decoding forward, with a static cache),
        ``forward`` (the harness compiles ``model.forward`` once at load: a dynamic cache), ``off`` or ``auto``."""
        if self.compile is None:
            return "auto"
        if not self.compile:
            return "off"
        return "transformers" if self.static_cache else "forward"

    def generate_kwargs(self) -> dict[str, Any]:
        """Keywords for ``generate``: the cache, and how compiling goes (``compile_config`` for transformers' own
        compile of a static-cache forward, on any device; ``disable_compile`` when it is off, or when the
        harness compiled the forward itself)."""
        kwargs: dict[str, Any] = {}
        if self.cache_implementation is not None:
            kwargs["cache_implementation"] = self.cache_implementation
        plan = self.compile_plan()
        if plan in ("off", "forward"):
            kwargs["disable_compile"] = True
        elif plan == "transformers":
            from transformers import CompileConfig

            config = CompileConfig(mode=self.torch_compile_mode())
            config._compile_all_devices = True  # type: ignore[assignment]  # compile on a CPU too, as asked (transformers' own switch)
            kwargs["compile_config"] = config
        return kwargs


def tensor_bytes(t: Any) -> int:
    """Bytes a (possibly quantized, tensor-subclass) parameter really occupies: the sum over its inner tensors.

    A tensor-parallel shard (DTensor) counts the whole tensor, so every rank reports the model's weights."""
    if type(t).__name__ == "DTensor" or type(getattr(t, "data", None)).__name__ == "DTensor":
        return t.numel() * t.element_size()
    if hasattr(t, "__tensor_flatten__") and type(t).__name__ not in ("Parameter", "Tensor"):
        names, _ = t.__tensor_flatten__()
        return sum(tensor_bytes(getattr(t, n)) for n in names)
    data = getattr(t, "data", t)
    if data is not t and hasattr(data, "__tensor_flatten__") and type(data).__name__ != "Tensor":
        return tensor_bytes(data)
    return t.numel() * t.element_size()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class HFAdapter(InProcessAdapter):
    name: ClassVar[str] = "hf"
    Args = HFArgs
    quantizations: ClassVar[tuple[str, ...]] = ("none", *TORCHAO)
    dtypes: ClassVar[tuple[str, ...]] = DTYPES

    parallelism: ClassVar[tuple[str, ...]] = ("tensor_parallel", "pipeline_parallel")
    _assisted: Assisted | None = None  # a draft model (args.draft_model): harness.adapters.hf_assisted

    @classmethod
    def worker_ranks(cls, engine: EngineConfig) -> int:
        return engine.tensor_parallel  # one torchrun rank per shard (harness.adapters.hf_parallel)

    @classmethod
    def reuse_worker(cls, engine: EngineConfig) -> bool:
        return True  # close frees the model and compiled graphs; a worker of several ranks is never reused

    @classmethod
    def check_parallel(cls, engine: EngineConfig) -> None:
        super().check_parallel(engine)
        check_hf_split(engine)

    @classmethod
    def check_point(cls, engine: EngineConfig, workload: WorkloadConfig | ServingWorkloadConfig) -> None:
        check_assisted_point(engine, workload)

    @classmethod
    def check_environment(cls, engine: EngineConfig, python: str | None) -> str | None:
        """torch and transformers importable by the engine's interpreter, and the CUDA device it names."""
        if python is None:
            return None
        return missing(("torch", "transformers"), python, INSTALL_HINT) or cuda_problem(
            engine.device, engine.visible_gpus, python, needed=engine.device_count
        )

    def load(self) -> None:
        why = self.check_environment(self.engine, sys.executable)
        if why:
            raise Unsupported(why)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from harness.models.resolve import resolve_model

        engine = self.engine
        if engine.threads:
            torch.set_num_threads(engine.threads)
        self._check_attention()
        resolved = resolve_model(engine.model)
        extra: dict[str, Any] = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
        self._torch = torch
        self._device = torch.device(split_device(engine))
        self._tokenizer = AutoTokenizer.from_pretrained(resolved.tokenizer_path, **extra)
        if self._tokenizer.pad_token_id is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        split = split_kwargs(engine)
        model: Any = AutoModelForCausalLM.from_pretrained(
            resolved.path, dtype=getattr(torch, engine.dtype), **extra, **split, **self.args.load_kwargs()
        )
        self._model = (model if split else model.to(self._device)).eval()
        self._resolved = resolved
        self._quantize(engine.quantization)
        if self.args.compile_plan() == "forward":
            # a dynamic cache: transformers would not compile, so the forward is compiled once here
            self._model.forward = torch.compile(self._model.forward, mode=self.args.torch_compile_mode())
        if self.args.draft_model is not None:
            self._assisted = Assisted(self.args, engine)
            self._assisted.load(self._tokenizer, self._device, getattr(torch, engine.dtype))

    def _check_attention(self) -> None:
        """A flash-attention implementation needs its package: without it the point is skipped, with the reason."""
        package = FLASH_PACKAGES.get(self.args.attn_implementation or "")
        if package and importlib.util.find_spec(package) is None:
            raise Unsupported(
                f"attn_implementation {self.args.attn_implementation} needs {package}, not installed here"
            )

    def _quantize(self, name: str) -> None:
        if name == "none":
            return
        try:
            import torchao.quantization as tq
        except ImportError:
            raise Unsupported(f"quantization {name!r} needs torchao: {install_hint('torchao')}") from None
        config_name, kwargs = TORCHAO[name]
        try:
            tq.quantize_(self._model, getattr(tq, config_name)(**kwargs))
            # a quantized model must still run: some kernels are only checked on first use
            probe = self._torch.zeros((1, 4), dtype=self._torch.long, device=self._device)
            with self._torch.inference_mode():
                self._model(probe)
        except (ImportError, NotImplementedError, RuntimeError, AssertionError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unsupported(f"{name} on {self.engine.device} with {self.engine.dtype}: {message}") from None

    def tokenizer(self) -> Any:
        return self._tokenizer

    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        if self._assisted is not None:
            return self._assisted.generate(self, prompts, output_tokens, clock)
        torch = self._torch
        if any(p.token_ids is None for p in prompts):
            raise AdapterError("hf adapter needs token ids in prompts")
        lengths = {len(p.token_ids or []) for p in prompts}
        if len(lengths) != 1:
            raise AdapterError("hf adapter batches prompts of one length (no padding is measured)")
        input_ids = torch.tensor([p.token_ids for p in prompts], dtype=torch.long, device=self._device)
        out, streamer, t_submit = self.timed_generate(input_ids, output_tokens, clock)
        n_out = int(out.shape[1] - input_ids.shape[1])
        steps = streamer.step_times_ns
        if len(steps) != n_out:
            raise AdapterError(f"streamer saw {len(steps)} steps for {n_out} generated tokens")
        return [
            RequestRecord(
                index=i,
                t_sched_ns=t_submit,
                t_send_ns=t_submit,
                t_first_ns=steps[0] if steps else None,
                t_end_ns=steps[-1] if steps else None,
                chunk_times_ns=list(steps),
                chunk_tokens=[1] * len(steps),
                n_in=p.n_in,
                n_out=n_out,
            )
            for i, p in enumerate(prompts)
        ]

    def timed_generate(
        self, input_ids: Any, output_tokens: int, clock: RunClock, **extra: Any
    ) -> tuple[Any, StepClock, int]:
        """``generate`` of exactly ``output_tokens`` greedy tokens, with the step clock; (output, clock, the submit
        stamp). On CUDA the device is idle and its peak-memory counter reset before the stamp. ``extra`` goes to
        ``generate`` (assisted generation's ``assistant_model``)."""
        torch = self._torch
        streamer = StepClock(clock)
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
            torch.cuda.reset_peak_memory_stats(self._device)
        t_submit = clock.now_ns()
        with torch.inference_mode():
            out = self._model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=output_tokens,
                min_new_tokens=output_tokens,  # exact lengths: EOS is suppressed until the last step
                do_sample=False,
                pad_token_id=self._tokenizer.pad_token_id,
                streamer=streamer,
                **extra,
                **self.args.generate_kwargs(),
            )
        return out, streamer, t_submit

    def memory(self) -> dict[str, float]:
        if self._device.type != "cuda":
            return {}
        return {"torch_cuda_max_allocated_bytes": float(self._torch.cuda.max_memory_allocated(self._device))}

    def window_figures(self) -> dict[str, float | None]:
        return self._assisted.take_figures() if self._assisted is not None else {}

    def describe(self) -> dict[str, Any]:
        torch = self._torch
        params = sum(p.numel() for p in self._model.parameters())
        weight_bytes = sum(tensor_bytes(p) for p in self._model.parameters())
        config = self._model.config
        device_name = torch.cuda.get_device_name(self._device) if self._device.type == "cuda" else platform.processor()
        return {
            "adapter": self.name,
            "engine_versions": {"torch": torch.__version__, "transformers": _version("transformers")},
            "device": str(self._device),
            "device_name": device_name or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "dtype": self.engine.dtype,
            "model": self.engine.model,
            "model_path": self._resolved.path,
            "n_params": params,
            "n_layers": getattr(config, "num_hidden_layers", None),
            "d_model": getattr(config, "hidden_size", None),
            "weights_bytes": weight_bytes,
            "parallel": parallel_facts(self.engine),
            "quantization": self.engine.quantization,
            **({"speculative": self._assisted.describe()} if self._assisted is not None else {}),
            "generation": {
                "attn_implementation": getattr(config, "_attn_implementation", None),
                "cache_implementation": self.args.cache_implementation or "dynamic (transformers' default)",
                "compile": {
                    "auto": "transformers' choice (compiles the forward with a static cache on CUDA)",
                    "off": "off",
                    "transformers": f"transformers' compile of the decoding forward ({self.args.torch_compile_mode()})",
                    "forward": f"torch.compile of model.forward ({self.args.torch_compile_mode()})",
                }[self.args.compile_plan()],
            },
        }

    def teacher_forced_logits(self, token_ids: list[int]) -> Any:
        """Logits (tokens × vocab, float32 numpy) predicting each next token of ``token_ids``."""
        torch = self._torch
        ids = torch.tensor([token_ids], dtype=torch.long, device=self._device)
        with torch.inference_mode():
            logits = self._model(input_ids=ids).logits[0]
        return logits.float().cpu().numpy()

    def close(self) -> None:
        """Drop the model and what was compiled for it: the worker may load the next group's model."""
        self._model = None
        self._tokenizer = None  # type: ignore[assignment]  # closed: nothing uses it after
        if "torch._dynamo" in sys.modules:
            sys.modules[
                "torch._dynamo"
            ].reset()  # compiled graphs and guards of this model: the next one compiles afresh
        if getattr(self, "_device", None) is not None and self._device.type == "cuda":
            self._torch.cuda.empty_cache()
