"""The fake server's prefix cache: blocks of ``block`` prompt tokens (words), each keyed by everything before its
end, kept least-recently-used up to ``capacity`` blocks — the way vLLM's automatic prefix caching reuses whole
blocks, so the hit a client should expect is known exactly (``harness.metrics.workload``)."""

from __future__ import annotations

from collections import OrderedDict


class PrefixCache:
    def __init__(self, block: int = 16, capacity: int = 65536) -> None:
        self.block = max(block, 1)
        self.capacity = capacity
        self.blocks: OrderedDict[int, None] = OrderedDict()

    def lookup_insert(self, tokens: list[str]) -> int:
        """Tokens of ``tokens`` served from the cache (whole leading blocks found); then every full block of the
        prompt is cached (a request computes what it missed)."""
        hit, chained, missed = 0, 0, False
        for end in range(self.block, len(tokens) + 1, self.block):
            chained = hash((chained, tuple(tokens[end - self.block : end])))
            if not missed and chained in self.blocks:
                hit = end
                self.blocks.move_to_end(chained)
                continue
            missed = True
            self.blocks[chained] = None
            if len(self.blocks) > self.capacity:
                self.blocks.popitem(last=False)
        return hit
