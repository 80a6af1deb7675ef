"""A real local OpenAI-compatible streaming server with known token timing and fault modes.

It exists to measure the load generator (benchmarks/loadgen_capacity.py) and to test the SSE parser against every
way real servers misbehave. It speaks HTTP/1.1 keep-alive over a raw asyncio protocol (httptools parsing, uvloop
when installed) because an ``aiohttp.web`` server tops out below the request rates it must sustain to measure a
client on one core.

Endpoints: ``POST /v1/completions``, ``POST /v1/chat/completions`` (streaming or not), ``GET /v1/models``,
``GET /health``, ``GET /stats`` (JSON counters; ``POST /reset_stats`` zeroes them) and ``GET /metrics``
(Prometheus text with vLLM's metric names).

Timing: the first token leaves ``ttft_ms`` after the request was parsed, each later chunk ``itl_ms`` after the
previous one, ``tokens_per_chunk`` tokens per chunk; every token chunk carries ``t_emit_ns`` (``time.monotonic_ns``
when it was written, a system-wide clock) and ``t_arrival_ns`` (when the request's first bytes were read), so a
client's timing error and its schedule lag can be measured against what really happened.
With ``max_concurrency`` the server serves that many requests at once and queues the rest (FIFO): a known capacity.

Faults, server-wide (``--fault``) or per request by a model name ``NAME@fault1,fault2``: ``role_first`` (a role-only
first chunk), ``no_usage`` (no usage chunk even if asked), ``no_done`` (no ``[DONE]``), ``error_event`` (an error
event after half the tokens), ``disconnect`` (the connection is cut after half the tokens), ``http500``, ``http429``,
``hang`` (never answers), ``crlf`` (events separated by CRLF), ``no_stream`` (a JSON reply although streaming was
asked), ``reasoning`` / ``reasoning_field`` (chat: the first half of the tokens come as ``reasoning_content`` /
``reasoning`` deltas, the rest as ``content``). ``die_after=N`` makes the process exit while serving its N+1-th
request (a server dying mid-point).

Run: ``python -m harness.loadgen.fakeserver --port 0 --ttft-ms 20 --itl-ms 5`` prints ``listening on PORT`` once ready.
"""

from __future__ import annotations

from harness.loadgen.fakeserver.config import FAULTS, TOKEN, FakeConfig, Stats
from harness.loadgen.fakeserver.server import FakeServer, serve

__all__ = ["FAULTS", "TOKEN", "FakeConfig", "FakeServer", "Stats", "serve"]
