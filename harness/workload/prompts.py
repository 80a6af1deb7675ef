"""Prompt sources. Synthetic prompts have exact token counts in the model's own tokenizer."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel


class Prompt(BaseModel):
    text: str
    token_ids: list[int] | None = None
    n_in: int
    n_in_source: str


def _special_ids(tokenizer: Any) -> set[int]:
    ids = getattr(tokenizer, "all_special_ids", None)
    return set(ids or [])


def synthetic_prompts(tokenizer: Any | None, count: int, input_tokens: int, seed: int | list[int]) -> list[Prompt]:
    """``count`` prompts of exactly ``input_tokens`` tokens, reproducible from ``seed``.

    Token ids are drawn uniformly from the non-special vocabulary: in-process engines take the ids as they are,
    so the count is exact by construction. Without a tokenizer (a plugin engine that has none) the prompt is
    ``input_tokens`` words and the count's source says so.
    """
    rng = np.random.default_rng(seed)
    if tokenizer is None:
        words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
        return [
            Prompt(
                text=" ".join(rng.choice(words, size=input_tokens).tolist()),
                n_in=input_tokens,
                n_in_source="words",
            )
            for _ in range(count)
        ]
    special = _special_ids(tokenizer)
    vocab = np.array([i for i in range(len(tokenizer)) if i not in special])
    prompts = []
    for _ in range(count):
        ids = rng.choice(vocab, size=input_tokens).tolist()
        prompts.append(
            Prompt(
                text=tokenizer.decode(ids, skip_special_tokens=True),
                token_ids=ids,
                n_in=input_tokens,
                n_in_source="engine_token_ids",
            )
        )
    return prompts


def text_prompts(
    tokenizer: Any | None, count: int, input_tokens: int, seed: int | list[int], max_rounds: int = 8
) -> list[Prompt]:
    """Prompts sent as text (servers tokenize them again): ``count`` texts that the model's own tokenizer encodes to
    exactly ``input_tokens`` tokens where a few rounds of decode → encode → trim reach a fixed point, else the
    closest found; ``n_in`` is that re-encoded count, so it is what the server will see, not what was drawn."""
    if tokenizer is None:
        return synthetic_prompts(None, count, input_tokens, seed)
    prompts = []
    for drawn in synthetic_prompts(tokenizer, count, input_tokens, seed):
        ids = list(drawn.token_ids or [])
        text = drawn.text
        n = len(tokenizer.encode(text, add_special_tokens=False))
        for _ in range(max_rounds):
            if n == input_tokens:
                break
            ids = tokenizer.encode(text, add_special_tokens=False)[:input_tokens]
            if len(ids) < input_tokens:  # merges ate tokens: pad from the draw's own ids
                ids += list(drawn.token_ids or [])[: input_tokens - len(ids)]
            text = tokenizer.decode(ids, skip_special_tokens=True)
            n = len(tokenizer.encode(text, add_special_tokens=False))
        prompts.append(Prompt(text=text, n_in=n, n_in_source="tokenizer"))
    return prompts


class TokenCounter:
    """Counts and cuts text in the served model's tokens where its tokenizer is here, else in words (the fake
    server's tokens, and the count a server-only model falls back to until its usage report comes)."""

    def __init__(self, tokenizer: Any | None) -> None:
        self.tokenizer = tokenizer
        self.source = "tokenizer" if tokenizer is not None else "words"

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def truncate(self, text: str, n: int) -> str:
        """The first ``n`` tokens of ``text`` (a cut inside a merge may re-encode one token shorter or longer)."""
        if self.tokenizer is None:
            return " ".join(text.split()[:n])
        ids = self.tokenizer.encode(text, add_special_tokens=False)[:n]
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))
