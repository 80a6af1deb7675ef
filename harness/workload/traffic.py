"""Shapes of serving traffic beyond one prompt per request: shared-prefix groups and multi-turn sessions.

``shared_prefix: {groups: N, prefix_tokens: P, suffix_tokens: S, order: round_robin}``: every prompt is one of N
prefixes of P tokens (a system prompt, few-shot examples) followed by a suffix of S tokens drawn for that request
alone. ``order`` fixes which group each request uses: ``round_robin`` (0, 1, …, N−1, 0, …), ``grouped`` (every
request of group 0, then of group 1, …), ``random`` (seeded). ``groups``, ``prefix_tokens`` and ``suffix_tokens``
may be lists: sweep axes (``prefix_groups``, ``prefix_tokens``, ``suffix_tokens``).

``sessions: {turns: 3, think_time_s: 2}``: each scheduled arrival is a conversation, replayed turn by turn; every
turn's request carries the whole conversation so far (the server's own replies included), and the next turn is
scheduled ``think_time_s`` (a number, or a distribution) after the reply ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.workload.lengths import Distribution
from harness.workload.prompts import Prompt, text_prompts


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _at_least(low: int) -> Callable[[int | list[int]], int | list[int]]:
    def check(value: int | list[int]) -> int | list[int]:
        for item in value if isinstance(value, list) else [value]:
            if item < low:
                raise ValueError(f"must be >= {low}, got {item}")
        return value

    return check


class SharedPrefix(_Strict):
    groups: int | list[int] = Field(default=1, description="prefix groups N")
    prefix_tokens: int | list[int] = Field(description="tokens of each group's shared prefix P")
    suffix_tokens: int | list[int] = Field(description="tokens of each request's own suffix S")
    order: Literal["round_robin", "grouped", "random"] = "round_robin"
    cache_block_tokens: int = Field(
        default=1, ge=1, description="the server's cache block, for the expected hit rate (vLLM: its block_size)"
    )

    _check = field_validator("groups", "suffix_tokens")(_at_least(1))
    _check_prefix = field_validator("prefix_tokens")(_at_least(0))  # 0: the no-sharing baseline of a sweep

    def sizes(self) -> tuple[int, int, int]:
        """(N, P, S) of a resolved point, where each is one value (a suite's lists are sweep axes)."""
        values = (self.groups, self.prefix_tokens, self.suffix_tokens)
        if any(isinstance(v, list) for v in values):
            raise ValueError("shared_prefix: a list is a sweep axis; a point has one value")
        return int(self.groups), int(self.prefix_tokens), int(self.suffix_tokens)  # type: ignore[arg-type]


class Sessions(_Strict):
    turns: int | None = Field(
        default=None, ge=1, description="turns per session; with prompts: at most this many of each conversation"
    )
    think_time_s: float | Distribution = Field(default=0.0, description="seconds between a reply and the next turn")

    @field_validator("think_time_s")
    @classmethod
    def _non_negative(cls, value: float | Distribution) -> float | Distribution:
        if isinstance(value, int | float) and value < 0:
            raise ValueError(f"must be >= 0 s, got {value}")
        return value

    def think_times_ns(self, n: int, seed: int | list[int]) -> list[int]:
        if isinstance(self.think_time_s, int | float):
            return [int(self.think_time_s * 1e9)] * n
        return [int(v * 1e9) for v in self.think_time_s.sample(n, seed, floor=0.0)]


def group_order(order: str, groups: int, count: int, seed: int | list[int]) -> list[int]:
    """Which prefix group each of ``count`` requests uses (module docstring)."""
    if order == "round_robin":
        return [i % groups for i in range(count)]
    if order == "grouped":
        return [i * groups // count for i in range(count)]
    return [int(g) for g in np.random.default_rng(seed).integers(0, groups, size=count)]


def prefix_prompts(
    tokenizer: object | None, spec: SharedPrefix, count: int, seed: int | list[int], salt: list[int] | None = None
) -> tuple[list[Prompt], list[int]]:
    """``count`` prompts of group prefix + own suffix, and each one's group. Prefix and suffix are each exact in the
    model's tokens (``text_prompts``); the whole is counted again (``n_in``), since a merge across the seam can make
    it one token shorter. ``salt`` changes the text only (not the order): fresh prefixes for a server that may have
    cached the last ones."""
    groups, p_tokens, s_tokens = spec.sizes()
    text_seed = [*_seq(seed), *(salt or [])]
    prefixes = text_prompts(tokenizer, groups, p_tokens, seed=[*text_seed, 7])
    suffixes = text_prompts(tokenizer, count, s_tokens, seed=[*text_seed, 8])
    which = group_order(spec.order, groups, count, [*_seq(seed), 9])
    out = []
    for g, suffix in zip(which, suffixes, strict=True):
        text = prefixes[g].text + "\n" + suffix.text
        if tokenizer is None:
            n_in, source = p_tokens + s_tokens, "words"
        else:
            n_in, source = len(tokenizer.encode(text, add_special_tokens=False)), "tokenizer"  # type: ignore[attr-defined]
        out.append(Prompt(text=text, n_in=n_in, n_in_source=source))
    return out, which


def _seq(seed: int | list[int]) -> list[int]:
    return list(seed) if isinstance(seed, list) else [seed]
