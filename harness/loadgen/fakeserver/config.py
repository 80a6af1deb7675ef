"""The fake server's settings, faults and counters."""

from __future__ import annotations

from dataclasses import dataclass, field

FAULTS = (
    "role_first",
    "no_usage",
    "no_done",
    "error_event",
    "disconnect",
    "http500",
    "http429",
    "hang",
    "crlf",
    "no_stream",
    "reasoning",
    "reasoning_field",
)
TOKEN = " tok"  # one token per word: a tokenizer-free client can count words


@dataclass
class FakeConfig:
    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    tokens_per_chunk: int = 1
    default_max_tokens: int = 16
    max_concurrency: int = 0  # 0 = unlimited
    faults: tuple[str, ...] = ()
    die_after: int = 0  # 0 = never
    model: str = "fake"
    prefill_us_per_token: float = 0.0  # TTFT grows by this per prompt token not served from the prefix cache
    prefix_cache: bool = True
    cache_block: int = 16  # tokens per cached block
    cache_blocks: int = 65536  # blocks kept (LRU)
    max_model_len: int = 0  # 0 = unlimited; prompt + max_tokens beyond it is refused (HTTP 400), as vLLM does
    kv_tokens: int = 0  # KV capacity in tokens for kv_cache_usage_perc; admitting a request beyond it = preemption
    api_key: str = ""  # when set, a completion without `Authorization: Bearer <api_key>` gets HTTP 401 (as vLLM)
    required_headers: tuple[tuple[str, str], ...] = ()  # (lower-case name, value) a completion must carry, else 401


@dataclass
class Stats:
    received: int = 0
    completed: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    first_recv_ns: int = 0
    first_done_ns: int = 0
    last_done_ns: int = 0
    per_kind: dict[str, int] = field(default_factory=dict)
    prefix_queries: int = 0
    prefix_hits: int = 0
    preemptions: int = 0
    unauthorized: int = 0  # completions refused for a missing or wrong key


def http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)
