"""Checks of a serving workload's files before anything runs: a dataset that is missing, not the format named, has no
usable row after filtering or a row longer than the model's context, and histogram files that cannot be read, are
bad input (exit 2, nothing written), found here rather than by the first point."""

from __future__ import annotations

from typing import Any

from harness.plan.points import Point, ServingWorkloadConfig
from harness.plan.schema import Suite, SuiteError


def _tokenizer(model: str) -> Any | None:
    """The model's own tokenizer where the harness can load it here (as ``ServerAdapter.tokenizer``), else None:
    lengths are then counted in words, as the worker will count them."""
    try:
        from transformers import AutoTokenizer

        from harness.models.resolve import resolve_model

        resolved = resolve_model(model)
        kwargs = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
        return AutoTokenizer.from_pretrained(resolved.tokenizer_path, **kwargs)
    except Exception:  # noqa: BLE001 - a model only its server knows
        return None


def _distributions(suite: Suite, w: ServingWorkloadConfig) -> None:
    from harness.workload.lengths import DistributionError, Empirical

    think = w.sessions.think_time_s if w.sessions is not None else None
    for name, dist in (("input_lengths", w.input_lengths), ("output_lengths", w.output_lengths), ("think", think)):
        if isinstance(dist, Empirical):
            try:
                dist.histogram()
            except DistributionError as exc:
                field = "sessions.think_time_s" if name == "think" else name
                raise SuiteError(f"{suite.where('workload', field)}: workload.{field}: {exc}") from None


def check_workload(suite: Suite, points: list[Point]) -> None:
    """Raise ``SuiteError`` (one line: suite line, then the file, row and cause) for unusable workload files."""
    from harness.adapters.base import context_from_args
    from harness.workload.datasets import DatasetError
    from harness.workload.prompts import TokenCounter
    from harness.workload.sources import usable_rows

    tokenizers: dict[str, Any] = {}
    seen: set[tuple[Any, ...]] = set()
    for p in points:
        w = p.workload
        if not isinstance(w, ServingWorkloadConfig):
            continue
        _distributions(suite, w)
        if w.prompts is None:
            continue
        context = context_from_args(p.engine.args)
        key = (p.engine.model, context, w.input_tokens, w.output_tokens, w.sessions is not None)
        if key in seen:
            continue
        seen.add(key)
        if p.engine.model not in tokenizers:
            tokenizers[p.engine.model] = _tokenizer(p.engine.model)
        counter = TokenCounter(tokenizers[p.engine.model])
        try:
            usable_rows(w.prompts, counter, w.input_tokens, w.output_tokens, context)
        except DatasetError as exc:
            raise SuiteError(f"{suite.where('workload', 'prompts')}: workload.prompts: {exc}") from None
