"""Speculative decoding figures (METRICS.md, "Speculative decoding"): how much of a draft the target accepted.

A *step* is one verification forward of the target: the draft proposed d tokens, the target accepted the first
a ≤ d of them and added one token of its own (the bonus or the correction), so the step emitted a + 1 tokens.
Over a window of S steps with A accepted of D proposed tokens:

- ``spec_acceptance_rate`` = A / D (None when nothing was proposed);
- ``spec_mean_accepted_length`` = (A + S) / S = 1 + A / S, tokens per target step (vLLM's "mean acceptance
  length"); 1 means the draft never helped, d + 1 that it was always right;
- the three counts are stored beside them, so ``tokens = S × spec_mean_accepted_length`` can be checked.

HF assisted generation: the harness reads each step's emitted tokens c_i from the streamer (``assisted_counts``).
With a constant schedule of K draft tokens the draft proposes d_i = min(K, N − e_i − 1) at step i, where e_i are
the tokens emitted before it and N the tokens asked for (transformers caps the draft so that the target's own token
still fits; a step with one token left proposes none). vLLM: the deltas of its counters over the window
(``server_counts``); vLLM V1 counts steps (``vllm:spec_decode_num_drafts``), V0 only emitted tokens, whose excess
over the accepted ones is one per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# name, unit, better, display, description: declared in the catalogue (harness.metrics.catalogue)
SPEC_FIGURES: list[tuple[str, str, str, str, str]] = [
    ("spec_acceptance_rate", "ratio", "higher", "accept", "accepted / proposed draft tokens"),
    ("spec_mean_accepted_length", "tok/step", "higher", "tok/step", "tokens per target step: 1 + accepted / steps"),
    ("spec_steps_count", "count", "none", "spec steps", "target verification steps"),
    ("spec_draft_tokens_count", "count", "none", "drafted", "draft tokens proposed"),
    ("spec_accepted_tokens_count", "count", "none", "accepted", "draft tokens the target accepted"),
]

# vLLM's counters as prometheus_client parses them (V1 and V0 names; ``_total`` is the sample's suffix)
ACCEPTED = ("vllm:spec_decode_num_accepted_tokens_total", "vllm:spec_decode_num_accepted_tokens")
DRAFTED = ("vllm:spec_decode_num_draft_tokens_total", "vllm:spec_decode_num_draft_tokens")
DRAFTS = ("vllm:spec_decode_num_drafts_total", "vllm:spec_decode_num_drafts")  # V1: steps
EMITTED = ("vllm:spec_decode_num_emitted_tokens_total", "vllm:spec_decode_num_emitted_tokens")  # V0


@dataclass(frozen=True)
class SpecCounts:
    """Accepted and proposed draft tokens and target steps, summed over a window."""

    accepted: int = 0
    drafted: int = 0
    steps: int = 0

    def __add__(self, other: SpecCounts) -> SpecCounts:
        return SpecCounts(self.accepted + other.accepted, self.drafted + other.drafted, self.steps + other.steps)


def spec_figures(counts: SpecCounts) -> dict[str, float | None]:
    """The window's figures from its summed counts (module docstring); ratios are None without their base."""
    return {
        "spec_acceptance_rate": counts.accepted / counts.drafted if counts.drafted > 0 else None,
        "spec_mean_accepted_length": (counts.accepted + counts.steps) / counts.steps if counts.steps > 0 else None,
        "spec_steps_count": float(counts.steps),
        "spec_draft_tokens_count": float(counts.drafted),
        "spec_accepted_tokens_count": float(counts.accepted),
    }


def assisted_counts(chunk_tokens: Sequence[int], num_draft_tokens: int, max_new_tokens: int) -> SpecCounts:
    """One sequence of HF assisted generation with a constant schedule: ``chunk_tokens[i]`` tokens emitted by
    step i. Raises ``ValueError`` when a step emitted more than its draft allows (the schedule was not constant)."""
    accepted = drafted = emitted = 0
    for i, tokens in enumerate(chunk_tokens):
        proposed = max(0, min(num_draft_tokens, max_new_tokens - emitted - 1))
        if not 1 <= tokens <= proposed + 1:
            raise ValueError(f"step {i} emitted {tokens} tokens after a draft of {proposed}")
        accepted += tokens - 1
        drafted += proposed
        emitted += tokens
    return SpecCounts(accepted, drafted, len(chunk_tokens))


def _first(values: dict[str, float], names: Sequence[str]) -> float | None:
    return next((values[n] for n in names if n in values), None)


def _delta(before: dict[str, float], after: dict[str, float], names: Sequence[str]) -> float | None:
    a, b = _first(before, names), _first(after, names)
    return b - a if a is not None and b is not None and b >= a else None  # a restarted server: no figure


def server_counts(before: dict[str, float], after: dict[str, float]) -> SpecCounts | None:
    """vLLM's speculative-decoding counters over a window; None when the server runs no draft (or restarted)."""
    accepted, drafted = _delta(before, after, ACCEPTED), _delta(before, after, DRAFTED)
    if accepted is None or drafted is None:
        return None
    steps = _delta(before, after, DRAFTS)
    if steps is None:
        emitted = _delta(before, after, EMITTED)
        steps = emitted - accepted if emitted is not None and emitted >= accepted else None
    if steps is None:
        return None
    return SpecCounts(round(accepted), round(drafted), round(steps))
