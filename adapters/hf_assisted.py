"""Speculative decoding in the ``hf`` engine: transformers' assisted generation with a draft model from the suite.

``args: {draft_model: embedded:tiny-llama@1, num_draft_tokens: 4}``. The draft proposes exactly K tokens per step
(a constant schedule, no confidence stop), so each step's proposal is known and the streamer's chunk sizes give
what the target accepted: a step emits accepted + 1 tokens (``harness.metrics.speculative``). Transformers runs
assisted generation for one sequence at a time, and the draft must speak the target's tokenizer; both are checked
by ``harness validate``. Torch and transformers load lazily.
"""

from __future__ import annotations

import functools
from typing import Any

from harness.adapters.base import AdapterError, EngineArgs, PointError, Unsupported
from pydantic import Field, field_validator, model_validator

from harness.metrics.speculative import SpecCounts, assisted_counts, spec_figures
from harness.models.resolve import ModelNotAvailable, check_model_name
from harness.plan.points import EngineConfig, ServingWorkloadConfig, WorkloadConfig
from harness.records import RequestRecord, RunClock
from harness.workload.prompts import Prompt

DEFAULT_DRAFT_TOKENS = 4
ASSISTED_ARGS = frozenset({"draft_model", "num_draft_tokens"})


class AssistedArgs(EngineArgs):
    """The draft model and how many tokens it proposes per step (the ``hf`` engine's speculative arguments)."""

    draft_model: str | None = Field(
        default=None, description="a model with the target's tokenizer that proposes tokens (assisted generation)"
    )
    num_draft_tokens: int | None = Field(
        default=None, ge=1, le=64, description=f"tokens the draft proposes per step (default {DEFAULT_DRAFT_TOKENS})"
    )

    @field_validator("draft_model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_model_name(value)
            except ModelNotAvailable as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _tokens_need_draft(self) -> AssistedArgs:
        if self.num_draft_tokens is not None and self.draft_model is None:
            raise ValueError("num_draft_tokens is set without draft_model (the model that proposes the tokens)")
        return self

    @property
    def draft_tokens(self) -> int:
        return self.num_draft_tokens or DEFAULT_DRAFT_TOKENS


def tokenizer_difference(target: Any, draft: Any) -> str | None:
    """Why ``draft`` is not the target's tokenizer (vocabulary or special tokens), or None."""
    a, b = target.get_vocab(), draft.get_vocab()
    if a != b:
        differ = len(set(a.items()) ^ set(b.items())) // 2 or abs(len(a) - len(b))
        return f"its vocabulary differs from the target's ({len(b)} vs {len(a)} tokens, {differ} mapped differently)"
    for special in ("eos_token_id", "bos_token_id", "pad_token_id"):
        if getattr(target, special, None) != getattr(draft, special, None):
            return f"its {special} differs from the target's"
    return None


@functools.lru_cache(maxsize=16)
def _tokenizer_problem(target: str, draft: str) -> str | None:
    """The two models' tokenizers compared where this interpreter can load them (else None: checked at load)."""
    try:
        from transformers import AutoTokenizer

        from harness.models.resolve import resolve_model

        def load(name: str) -> Any:
            resolved = resolve_model(name)
            extra = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
            return AutoTokenizer.from_pretrained(resolved.tokenizer_path, **extra)

        return tokenizer_difference(load(target), load(draft))
    except Exception:  # noqa: BLE001 - transformers absent here, or a model only the engine's env can read
        return None


def check_assisted_point(engine: EngineConfig, workload: WorkloadConfig | ServingWorkloadConfig) -> None:
    """A draft model needs batch size 1, one device and the target's tokenizer (``PointError`` otherwise)."""
    draft = engine.args.get("draft_model")
    if not isinstance(draft, str):
        return
    if isinstance(workload, WorkloadConfig) and workload.batch_size > 1:
        raise PointError(
            ("workload", "batch_size"),
            f"{workload.batch_size} with args.draft_model: transformers' assisted generation runs one sequence at "
            "a time (batch_size 1)",
        )
    if engine.devices_per_replica > 1:
        raise PointError(
            ("engines",),
            f"args.draft_model with tensor_parallel × pipeline_parallel = {engine.devices_per_replica}: assisted "
            "generation runs on one device",
        )
    why = _tokenizer_problem(engine.model, draft)
    if why:
        raise PointError(("engines",), f"args.draft_model {draft}: {why}; the draft must share the target's tokenizer")


class Assisted:
    """The draft model of one ``hf`` engine group, and the acceptance counted since the last window."""

    def __init__(self, args: AssistedArgs, engine: EngineConfig) -> None:
        assert args.draft_model is not None
        self.name = args.draft_model
        self.k = args.draft_tokens
        self.engine = engine
        self._counts = SpecCounts()

    def load(self, target_tokenizer: Any, device: Any, dtype: Any) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from harness.models.resolve import resolve_model

        if self.engine.devices_per_replica > 1:
            raise Unsupported("args.draft_model: assisted generation runs on one device")
        resolved = resolve_model(self.name)
        extra: dict[str, Any] = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
        why = tokenizer_difference(target_tokenizer, AutoTokenizer.from_pretrained(resolved.tokenizer_path, **extra))
        if why:
            raise AdapterError(f"args.draft_model {self.name}: {why}; the draft must share the target's tokenizer")
        model: Any = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype, **extra)
        config = model.generation_config
        # a known proposal per step: K tokens always (transformers' default adapts K and stops on low confidence)
        config.num_assistant_tokens = self.k
        config.num_assistant_tokens_schedule = "constant"
        config.assistant_confidence_threshold = 0.0
        self.model = model.to(device).eval()

    def generate(self, hf: Any, prompts: list[Prompt], output_tokens: int, clock: RunClock) -> list[RequestRecord]:
        """``hf``'s (the ``HFAdapter``'s) target, verifying this draft's proposals: one record, a chunk per step,
        and the step counts added to the window's."""
        if len(prompts) != 1:
            raise AdapterError(f"assisted generation runs batch size 1, got {len(prompts)} prompts")
        if prompts[0].token_ids is None:
            raise AdapterError("hf adapter needs token ids in prompts")
        input_ids = hf._torch.tensor([prompts[0].token_ids], dtype=hf._torch.long, device=hf._device)
        out, streamer, t_submit = hf.timed_generate(input_ids, output_tokens, clock, assistant_model=self.model)
        n_out = int(out.shape[1] - input_ids.shape[1])
        if sum(streamer.step_tokens) != n_out:
            raise AdapterError(f"streamer saw {sum(streamer.step_tokens)} tokens for {n_out} generated")
        try:
            self._counts += assisted_counts(streamer.step_tokens, self.k, output_tokens)
        except ValueError as exc:
            raise AdapterError(f"assisted generation: {exc}") from None
        times = streamer.step_times_ns
        return [
            RequestRecord(
                index=0,
                t_sched_ns=t_submit,
                t_send_ns=t_submit,
                t_first_ns=times[0] if times else None,
                t_end_ns=times[-1] if times else None,
                chunk_times_ns=list(times),
                chunk_tokens=list(streamer.step_tokens),
                n_in=prompts[0].n_in,
                n_out=n_out,
            )
        ]

    def take_figures(self) -> dict[str, float | None]:
        counts, self._counts = self._counts, SpecCounts()
        return spec_figures(counts) if counts.steps else {}

    def describe(self) -> dict[str, Any]:
        return {"draft_model": self.name, "num_draft_tokens": self.k, "schedule": "constant"}
