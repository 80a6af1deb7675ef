"""llama.cpp in process (llama-cpp-python): one sequence at a time, greedy, token by token.

The model is a GGUF the harness makes itself (``harness.models.gguf_export``: every type quantized by llama.cpp
from one F32 export of the same weights) or a local ``.gguf`` file. Generation is an explicit loop over
``Llama.eval``: the prompt is evaluated, then each step reads the last logits, takes the argmax (EOS masked until
the last step, like the HF adapter's ``min_new_tokens``, so output lengths are exact) and timestamps the token as
soon as it exists, before feeding it back. llama-cpp-python's high-level API holds one sequence, so batches larger
than 1 are skipped as unsupported rather than serialized and called a batch; the llama.cpp server covers concurrency.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import AdapterError, EngineArgs, InProcessAdapter, Unsupported
from harness.adapters.environment import missing
from pydantic import Field

from harness.hints import install_hint
from harness.models.gguf_export import GGUF_TYPES, GGUFExportError, gguf_for_engine, tensor_types
from harness.plan.points import EngineConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import Prompt

CTX_STEP = 256  # n_ctx is rounded up to this when sized for a workload
INSTALL_HINT = f"the llama-cpp adapter needs llama-cpp-python: {install_hint('llama_cpp')}"
BATCH_REASON = (
    "llama-cpp-python runs one sequence at a time in process; use the llama.cpp server for concurrent requests"
)


# llama.cpp's LLAMA_SPLIT_MODE_*: whole layers per GPU (a pipeline), or the rows of every matrix (tensor parallel)
SPLIT_MODES = {"layer": 1, "row": 2}


def split_mode(engine: EngineConfig) -> int | None:
    """The split of one model over ``tensor_parallel`` or ``pipeline_parallel`` GPUs (llama.cpp divides the
    weights by the devices' free memory), or None on one device."""
    if engine.devices_per_replica == 1:
        return None
    return SPLIT_MODES["row" if engine.tensor_parallel > 1 else "layer"]


def check_split(cls: type, engine: EngineConfig) -> None:
    """llama.cpp splits a model over CUDA GPUs only, and in one way at a time."""
    if engine.devices_per_replica > 1 and not engine.device.startswith("cuda"):
        raise AdapterError(f"tensor_parallel/pipeline_parallel: {cls.__name__} splits a model over CUDA GPUs only")
    if engine.tensor_parallel > 1 and engine.pipeline_parallel > 1:
        raise AdapterError("tensor_parallel: llama.cpp splits by rows (tensor) or by layers (pipeline), not both")


class LlamaCppArgs(EngineArgs):
    """``llama_cpp.Llama`` options (passed when set; llama.cpp's defaults otherwise). The model path, threads and
    logits are the harness's; ``n_ctx`` unset sizes the context for the workload."""

    n_ctx: int | None = Field(default=None, ge=1)
    n_batch: int | None = Field(default=None, ge=1)
    n_ubatch: int | None = Field(default=None, ge=1)
    n_gpu_layers: int | None = None
    split_mode: int | None = None
    main_gpu: int | None = None
    tensor_split: list[float] | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    seed: int | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None
    offload_kqv: bool | None = None
    flash_attn: bool | None = None
    op_offload: bool | None = None
    swa_full: bool | None = None
    type_k: int | None = None
    type_v: int | None = None
    no_perf: bool | None = None
    numa: bool | int | None = None
    kv_overrides: dict[str, bool | int | float | str] | None = None

    def llama_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class LlamaTokenizer:
    """llama.cpp's own tokenizer behind the small interface the workload and fidelity code use."""

    def __init__(self, llm: Any, special_ids: set[int]) -> None:
        self._llm = llm
        self.all_special_ids = sorted(special_ids)

    def __len__(self) -> int:
        return int(self._llm.n_vocab())

    @property
    def vocab_size(self) -> int:
        return len(self)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=False))

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        if skip_special_tokens:
            ids = [i for i in ids if i not in self.all_special_ids]
        return self._llm.detokenize(list(ids)).decode("utf-8", errors="replace")


class LlamaCppAdapter(InProcessAdapter):
    name: ClassVar[str] = "llama-cpp"
    # "none": a .gguf model file as it is; for other models (which have no GGUF of their own) the f32 export
    quantizations: ClassVar[tuple[str, ...]] = ("none", *GGUF_TYPES)
    dtypes: ClassVar[tuple[str, ...]] = ("float32",)  # llama.cpp computes in f32 on the CPU; weights: quantization
    # cuda offloads every layer; which GPU is args.main_gpu (or visible_gpus), not a cuda:N the build would ignore
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    parallelism: ClassVar[tuple[str, ...]] = ("tensor_parallel", "pipeline_parallel")

    @classmethod
    def check_parallel(cls, engine: EngineConfig) -> None:
        super().check_parallel(engine)
        check_split(cls, engine)

    Args = LlamaCppArgs

    def __init__(self, engine: EngineConfig) -> None:
        super().__init__(engine)
        self._llm: Any = None
        self._n_ctx = 0

    # ------------------------------------------------------------ loading

    def _gguf_file(self) -> Path:
        model, quantization = self.engine.model, self.engine.quantization
        try:
            return gguf_for_engine(model, quantization, self.engine.threads)
        except GGUFExportError as exc:
            raise Unsupported(f"{quantization} of {model}: {exc}") from None

    def _llama(self, **extra: Any) -> Any:
        args = {"n_gpu_layers": -1 if self.engine.device.startswith("cuda") else 0, **self.args.llama_kwargs(), **extra}
        if split_mode(self.engine) is not None:
            args.setdefault("split_mode", split_mode(self.engine))
        args.setdefault("n_batch", min(args["n_ctx"], 512))
        args.setdefault("n_ubatch", args["n_batch"])
        return self._llama_cpp.Llama(
            model_path=str(self._path),
            n_threads=self.engine.threads,
            n_threads_batch=self.engine.threads,
            verbose=False,
            **args,
        )

    @classmethod
    def check_environment(cls, engine: EngineConfig, python: str | None) -> str | None:
        """llama-cpp-python and gguf importable by the engine's interpreter; GPU offload in its build for cuda."""
        if python is None:
            return None
        why = missing(("llama_cpp", "gguf"), python, INSTALL_HINT)
        if why or engine.device == "cpu":
            return why
        if python == sys.executable:
            import llama_cpp

            offload = bool(llama_cpp.llama_supports_gpu_offload())
        else:
            code = "import sys, llama_cpp; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)"
            offload = subprocess.run([python, "-c", code], capture_output=True, timeout=120).returncode == 0
        if not offload:
            return (
                f"device {engine.device}: this llama-cpp-python build has no GPU offload "
                "(rebuild it with CMAKE_ARGS=-DGGML_CUDA=on)"
            )
        return None

    def load(self) -> None:
        why = self.check_environment(self.engine, sys.executable)
        if why:
            raise Unsupported(why)
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._path = self._gguf_file()
        self._ensure_ctx(self.args.n_ctx or CTX_STEP)
        from gguf import GGUFReader

        # control/unused/byte tokens are not drawn for synthetic prompts (token type 1 is a normal token)
        types = GGUFReader(str(self._path)).fields["tokenizer.ggml.token_type"].contents()
        special = {i for i, t in enumerate(types) if int(t) != 1}
        self._tokenizer = LlamaTokenizer(self._llm, special)
        self._eos = int(self._llm.token_eos())

    def _ensure_ctx(self, need: int) -> None:
        """A context of at least ``need`` tokens: a workload longer than the current one gets a new context."""
        if self._llm is not None and need <= self._n_ctx:
            return
        if self.args.n_ctx is not None and self._llm is not None:
            raise AdapterError(f"the workload needs {need} tokens of context but args.n_ctx is {self._n_ctx}")
        n_ctx = self.args.n_ctx or -(-need // CTX_STEP) * CTX_STEP
        self._llm = None  # free the old context before the new one is allocated
        try:
            self._llm = self._llama(n_ctx=n_ctx)
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            raise AdapterError(f"llama.cpp could not load {self._path}: {exc}") from None
        self._n_ctx = int(self._llm.n_ctx())
        if hasattr(self, "_tokenizer"):
            self._tokenizer._llm = self._llm

    def tokenizer(self) -> Any:
        return self._tokenizer

    # ------------------------------------------------------------ generation

    def _last_logits(self) -> Any:
        import numpy as np

        ptr = self._llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._llm.n_vocab(),))

    def generate(self, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        if len(prompts) != 1:
            raise Unsupported(f"batch_size {len(prompts)}: {BATCH_REASON}")
        prompt = prompts[0]
        if prompt.token_ids is None:
            raise AdapterError("llama-cpp adapter needs token ids in prompts")
        self._ensure_ctx(len(prompt.token_ids) + output_tokens)
        llm = self._llm
        llm.reset()
        times: list[int] = []
        t_submit = clock.now_ns()
        llm.eval(prompt.token_ids)
        for step in range(output_tokens):
            logits = self._last_logits()
            if step < output_tokens - 1:  # exact length: EOS may not end the sequence early
                saved, logits[self._eos] = logits[self._eos], -float("inf")
                token = int(logits.argmax())
                logits[self._eos] = saved
            else:
                token = int(logits.argmax())
            times.append(clock.now_ns())
            if step < output_tokens - 1:
                llm.eval([token])
        return [
            RequestRecord(
                index=0,
                t_sched_ns=t_submit,
                t_send_ns=t_submit,
                t_first_ns=times[0],
                t_end_ns=times[-1],
                chunk_times_ns=times,
                chunk_tokens=[1] * len(times),
                n_in=prompt.n_in,
                n_out=len(times),
            )
        ]

    def greedy(self, token_ids: list[int], output_tokens: int) -> list[int]:
        """The token ids ``generate`` produces for ``token_ids`` (for checks against other engines)."""
        out: list[int] = []
        self._ensure_ctx(len(token_ids) + output_tokens)
        self._llm.reset()
        self._llm.eval(token_ids)
        for step in range(output_tokens):
            logits = self._last_logits().copy()
            if step < output_tokens - 1:
                logits[self._eos] = -float("inf")
            out.append(int(logits.argmax()))
            self._llm.eval(out[-1:])
        return out

    # ------------------------------------------------------------ fidelity

    def reference_engine(self) -> EngineConfig:
        """Fidelity is measured against the HF model at float32 on the CPU: the same reference the hf adapter uses."""
        return EngineConfig(
            adapter="hf",
            model=self.engine.model,
            dtype="float32",
            quantization="none",
            device="cpu",
            threads=self.engine.threads,
            visible_gpus=None,
            args={},
        )

    def teacher_forced_logits(self, token_ids: list[int]) -> Any:
        """Logits (tokens × vocab, float32 numpy) predicting each next token of ``token_ids``, one forward pass."""
        import numpy as np

        n = len(token_ids)
        n_ctx = -(-n // CTX_STEP) * CTX_STEP
        llm = self._llama(n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True)
        try:
            llm.eval(token_ids)
            return np.array(llm.scores[:n], dtype=np.float32)
        finally:
            llm.close()

    # ------------------------------------------------------------ facts

    def describe(self) -> dict[str, Any]:
        from harness.models.gguf_export import weights_bytes

        llama_cpp, llm = self._llama_cpp, self._llm
        meta = llm.metadata
        return {
            "adapter": self.name,
            "engine_versions": {"llama_cpp_python": llama_cpp.__version__},
            "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
            "device": self.engine.device,
            "device_name": platform.processor() or platform.machine(),
            "threads": llm.n_threads if hasattr(llm, "n_threads") else self.engine.threads,
            "n_ctx": self._n_ctx,
            "model": self.engine.model,
            "model_path": str(self._path),
            "gguf_tensor_types": tensor_types(self._path),
            "n_params": int(llama_cpp.llama_model_n_params(llm.model)),
            "n_layers": int(meta.get("llama.block_count", 0)) or None,
            "d_model": int(meta.get("llama.embedding_length", 0)) or None,
            "weights_bytes": weights_bytes(self._path),
            "quantization": self.engine.quantization,
        }

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
        self._llm = None
