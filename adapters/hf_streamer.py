"""The streamer both HF generate paths hand to ``generate``: when each decoding step's tokens arrive, and how many
(one per sequence for a plain step; accepted + 1 for a step of assisted generation)."""

from __future__ import annotations

from typing import Any

from harness.records import RunClock


class StepClock:
    """A transformers streamer that records, per decoding step, its arrival time and its token count."""

    def __init__(self, clock: RunClock) -> None:
        self.clock = clock
        self.step_times_ns: list[int] = []
        self.step_tokens: list[int] = []  # tokens per step along the last axis (a batch's row counts once)
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        now = self.clock.now_ns()
        if not self._prompt_seen:  # generate() first hands the streamer the prompt itself
            self._prompt_seen = True
            return
        self.step_times_ns.append(now)
        self.step_tokens.append(int(value.shape[-1]) if value.dim() == 2 else 1)

    def end(self) -> None:
        pass
