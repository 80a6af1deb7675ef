"""Dataset prompts for serving: a suite's ``prompts:`` section, and the rows it selects in the served model's tokens.

Selection, in order: read every row (``harness.workload.datasets``); size each row (its first prompt's tokens,
and its output length from the data: the row's ``output_tokens``, else its first reply's tokens, else the
workload's ``output_tokens``); apply the overrides (``input_length: workload`` cuts every prompt to the workload's
``input_tokens``, dropping rows shorter than that; ``output_length: workload`` asks every reply for the workload's
``output_tokens``); drop rows outside the length filters; refuse rows that do not fit the model's context; then draw
``num_requests`` rows with the seed: a permutation of the usable rows, repeated in the same order when the run asks
for more requests than there are rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.workload.datasets import Conversation, DatasetError, Message, load_conversations
from harness.workload.prompts import TokenCounter


class PromptSource(BaseModel):
    """``workload.prompts``: where serving prompts come from when they are not synthetic."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="a local file or saved dataset directory, or builtin:NAME (builtin:harness-chat)")
    format: Literal["jsonl", "sharegpt", "csv", "hf_disk"] | None = Field(
        default=None, description="default: from the name (.jsonl, .json = sharegpt, .csv, a directory = hf_disk)"
    )
    text_column: str | None = Field(default=None, description="csv / hf_disk / jsonl: the prompt's column (prompt)")
    output_column: str | None = Field(default=None, description="csv: a column of output lengths in tokens")
    split: str | None = Field(default=None, description="hf_disk: the split of a DatasetDict (default train)")
    seed: int | None = Field(default=None, description="the row draw's seed (default: workload.seed)")
    input_length: Literal["data", "workload"] = Field(
        default="data", description="data: each row's own prompt; workload: cut to workload.input_tokens"
    )
    output_length: Literal["data", "workload"] = Field(
        default="data", description="data: the row's output length where it has one; workload: output_tokens"
    )
    min_input_tokens: int | None = Field(default=None, ge=1)
    max_input_tokens: int | None = Field(default=None, ge=1)
    min_output_tokens: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> PromptSource:
        for lo, hi in (("min_input_tokens", "max_input_tokens"), ("min_output_tokens", "max_output_tokens")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} {a} is above {hi} {b}")
        return self

    def load(self) -> list[Conversation]:
        return load_conversations(self.path, self.format, self.text_column, self.output_column, self.split)


@dataclass(frozen=True)
class DataPrompt:
    """One selected row: the messages of its first request, their length and the reply's."""

    row: int
    messages: tuple[Message, ...]
    n_in: int
    n_out: int
    conversation: Conversation

    @property
    def text(self) -> str:
        """The prompt as a completions request sends it: the messages' contents, blank-line separated."""
        return "\n\n".join(m.content for m in self.messages)


def first_request(conv: Conversation) -> tuple[Message, ...]:
    """The messages up to and including the first user message (a system prompt stays in front of it)."""
    out = []
    for m in conv.messages:
        out.append(m)
        if m.role == "user":
            break
    return tuple(out)


def first_reply(conv: Conversation) -> str | None:
    seen_user = False
    for m in conv.messages:
        if m.role == "user":
            seen_user = True
        elif m.role == "assistant" and seen_user:
            return m.content
    return None


def size_row(
    spec: PromptSource, conv: Conversation, counter: TokenCounter, input_tokens: int, output_tokens: int
) -> DataPrompt | None:
    """The row as it will be sent; None when ``input_length: workload`` asks for more tokens than it has."""
    messages = first_request(conv)
    text = "\n\n".join(m.content for m in messages)
    n_in = counter.count(text)
    if spec.input_length == "workload":
        if n_in < input_tokens:
            return None
        text = counter.truncate(text, input_tokens)
        messages = (Message("user", text),)
        n_in = counter.count(text)
    n_out = output_tokens
    if spec.output_length == "data":
        reply = first_reply(conv)
        n_out = conv.output_tokens or (max(counter.count(reply), 1) if reply else output_tokens)
    return DataPrompt(conv.row, messages, n_in, n_out, conv)


def _kept(spec: PromptSource, p: DataPrompt) -> bool:
    return (
        (spec.min_input_tokens is None or p.n_in >= spec.min_input_tokens)
        and (spec.max_input_tokens is None or p.n_in <= spec.max_input_tokens)
        and (spec.min_output_tokens is None or p.n_out >= spec.min_output_tokens)
        and (spec.max_output_tokens is None or p.n_out <= spec.max_output_tokens)
    )


def usable_rows(
    spec: PromptSource,
    counter: TokenCounter,
    input_tokens: int,
    output_tokens: int,
    context: int | None = None,
    min_turns: int = 1,
) -> list[DataPrompt]:
    """Every row that passes the filters, sized; ``DatasetError`` when none does or one exceeds ``context``."""
    conversations = spec.load()
    usable = []
    for conv in conversations:
        sized = size_row(spec, conv, counter, input_tokens, output_tokens)
        if sized is None or not _kept(spec, sized) or conv.user_turns() < min_turns:
            continue
        if context is not None and sized.n_in + sized.n_out > context:
            raise DatasetError(
                f"{spec.path}:{conv.row}: row is {sized.n_in} prompt + {sized.n_out} output tokens "
                f"({counter.source}), longer than the model's context of {context}; "
                "drop it with prompts.max_input_tokens / max_output_tokens"
            )
        usable.append(sized)
    if not usable:
        raise DatasetError(
            f"{spec.path}: no usable row of {len(conversations)} after filtering "
            f"({_filters(spec, min_turns)}; lengths in {counter.source})"
        )
    return usable


def _filters(spec: PromptSource, min_turns: int) -> str:
    names = ("min_input_tokens", "max_input_tokens", "min_output_tokens", "max_output_tokens")
    shown = [f"{n}={getattr(spec, n)}" for n in names if getattr(spec, n) is not None]
    if spec.input_length == "workload":
        shown.append("input_length=workload (rows shorter than input_tokens dropped)")
    if min_turns > 1:
        shown.append(f"sessions need >= {min_turns} user turns")
    return ", ".join(shown) or "no filter"


def draw(rows: list[DataPrompt], count: int, seed: int | list[int]) -> list[DataPrompt]:
    """``count`` rows: a seeded permutation of ``rows``, repeated in that order if ``count`` exceeds them."""
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[int(order[i % len(rows)])] for i in range(count)]
