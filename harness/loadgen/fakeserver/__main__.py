"""``python -m harness.loadgen.fakeserver --port 0 --ttft-ms 20 --itl-ms 5`` prints ``listening on PORT``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from harness.loadgen.fakeserver.config import FAULTS, FakeConfig
from harness.loadgen.fakeserver.server import serve


def parse_args(argv: list[str] | None = None) -> tuple[FakeConfig, str, int, list[int] | None]:
    p = argparse.ArgumentParser(
        prog="python -m harness.loadgen.fakeserver",
        description="A local OpenAI-compatible server with known token timing and faults.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--itl-ms", type=float, default=0.0)
    p.add_argument("--tokens-per-chunk", type=int, default=1)
    p.add_argument("--max-concurrency", type=int, default=0)
    p.add_argument("--fault", action="append", default=[], choices=FAULTS)
    p.add_argument("--die-after", type=int, default=0)
    p.add_argument("--model", default="fake")
    p.add_argument("--prefill-us-per-token", type=float, default=0.0, help="TTFT per uncached prompt token")
    p.add_argument("--no-prefix-cache", action="store_true")
    p.add_argument("--cache-block", type=int, default=16)
    p.add_argument("--max-model-len", type=int, default=0, help="0 = unlimited")
    p.add_argument("--kv-tokens", type=int, default=0, help="KV capacity for kv_cache_usage_perc and preemptions")
    p.add_argument("--cpu", type=int, action="append", help="pin to this CPU (repeatable)")
    p.add_argument("--api-key", default="", help="refuse completions without `Authorization: Bearer KEY` (401)")
    p.add_argument("--require-header", action="append", default=[], metavar="NAME=VALUE", help="refuse without it")
    a = p.parse_args(argv)
    print(f"fake server args: {vars(a)}", file=sys.stderr, flush=True)  # as vLLM logs its arguments, keys too
    cfg = FakeConfig(
        ttft_ms=a.ttft_ms,
        itl_ms=a.itl_ms,
        tokens_per_chunk=a.tokens_per_chunk,
        max_concurrency=a.max_concurrency,
        faults=tuple(a.fault),
        die_after=a.die_after,
        model=a.model,
        prefill_us_per_token=a.prefill_us_per_token,
        prefix_cache=not a.no_prefix_cache,
        cache_block=a.cache_block,
        max_model_len=a.max_model_len,
        kv_tokens=a.kv_tokens,
        api_key=a.api_key,
        required_headers=tuple(_header(h) for h in a.require_header),
    )
    return cfg, a.host, a.port, a.cpu


def _header(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name.strip().lower(), value


def run_loop(main: object) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    cfg, host, port, cpus = parse_args(argv)
    if cpus:
        os.sched_setaffinity(0, cpus)

    def ready(bound: int) -> None:
        print(f"listening on {bound}", flush=True)

    run_loop(serve(cfg, host, port, ready))
    sys.exit(0)


if __name__ == "__main__":
    main()
