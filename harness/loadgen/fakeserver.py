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
when it was written, a system-wide clock) so a client's timing error can be measured against what really happened.
With ``max_concurrency`` the server serves that many requests at once and queues the rest (FIFO): a known capacity.

Faults, server-wide (``--fault``) or per request by a model name ``NAME@fault1,fault2``: ``role_first`` (a role-only
first chunk), ``no_usage`` (no usage chunk even if asked), ``no_done`` (no ``[DONE]``), ``error_event`` (an error
event after half the tokens), ``disconnect`` (the connection is cut after half the tokens), ``http500``, ``http429``,
``hang`` (never answers), ``crlf`` (events separated by CRLF), ``no_stream`` (a JSON reply although streaming was
asked). ``die_after=N`` makes the process exit while serving its N+1-th request (a server dying mid-point).

Run: ``python -m harness.loadgen.fakeserver --port 0 --ttft-ms 20 --itl-ms 5`` prints ``listening on PORT`` once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools

FAULTS = ("role_first", "no_usage", "no_done", "error_event", "disconnect", "http500", "http429", "hang", "crlf",
          "no_stream")
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


class _Timers:
    """Precise timers: asyncio's epoll wait rounds timeouts up to whole milliseconds, so the last millisecond before
    a due time is spent polling the loop instead (the server's token timing is the reference a client is judged by).
    """

    SPIN_NS = 1_500_000

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.heap: list[tuple[int, int, Callable[[], None]]] = []
        self.seq = 0
        self.wake = asyncio.Event()
        self.task = loop.create_task(self._drive())

    def at(self, due_ns: int, fn: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due_ns, self.seq, fn))
        self.wake.set()

    async def _drive(self) -> None:
        while True:
            if not self.heap:
                self.wake.clear()
                await self.wake.wait()
                continue
            now = time.monotonic_ns()
            while self.heap and self.heap[0][0] <= now:
                _, _, fn = heapq.heappop(self.heap)
                fn()
            if not self.heap:
                continue
            gap = self.heap[0][0] - time.monotonic_ns()
            if gap > self.SPIN_NS:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), (gap - self.SPIN_NS) / 1e9)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class FakeServer:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.queue: deque[Callable[[], None]] = deque()
        self.timers: _Timers | None = None

    # ------------------------------------------------------------ dispatch

    def handle(self, conn: _Conn, method: bytes, path: bytes, body: bytes) -> None:
        path = path.split(b"?", 1)[0]
        if method == b"GET":
            if path == b"/health":
                conn.respond(200, b"{}")
            elif path == b"/v1/models":
                conn.respond(200, json.dumps({"object": "list", "data": [
                    {"id": self.config.model, "object": "model", "owned_by": "fake"}]}).encode())
            elif path == b"/stats":
                conn.respond(200, json.dumps(self.stats.__dict__).encode())
            elif path == b"/metrics":
                conn.respond(200, self.metrics_text(), b"text/plain; version=0.0.4")
            else:
                conn.respond(404, b'{"error": {"message": "not found"}}')
            return
        if method == b"POST" and path == b"/reset_stats":  # benchmarks count each window from zero
            running, waiting = self.stats.running, self.stats.waiting
            self.stats = Stats(running=running, waiting=waiting)
            conn.respond(200, b"{}")
            return
        if method != b"POST" or path not in (b"/v1/completions", b"/v1/chat/completions"):
            conn.respond(404, b'{"error": {"message": "not found"}}')
            return
        try:
            req = json.loads(body)
        except ValueError:
            conn.respond(400, b'{"error": {"message": "body is not JSON"}}')
            return
        self.stats.received += 1
        if not self.stats.first_recv_ns:
            self.stats.first_recv_ns = time.monotonic_ns()
        if self.config.die_after and self.stats.received > self.config.die_after:
            os._exit(3)  # a crash, as abrupt as an OOM kill: no goodbye to anyone
        model = str(req.get("model") or self.config.model)
        faults = set(self.config.faults)
        if "@" in model:
            faults |= set(model.split("@", 1)[1].split(","))
        job = _Job(self, conn, req, path == b"/v1/chat/completions", faults)
        if self.config.max_concurrency and self.stats.running >= self.config.max_concurrency:
            self.stats.waiting += 1
            self.queue.append(job.start_queued)
        else:
            job.start()

    def release(self) -> None:
        self.stats.running -= 1
        if self.queue:
            self.stats.waiting -= 1
            self.queue.popleft()()

    def metrics_text(self) -> bytes:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from prometheus_client.exposition import generate_latest

        s, cap = self.stats, self.config.max_concurrency

        class _Collector:
            def collect(self):  # noqa: ANN202 - prometheus_client's protocol
                for name, doc, value in (("vllm:request_success", "finished requests", s.completed),
                                         ("vllm:prompt_tokens", "prompt tokens", s.prompt_tokens),
                                         ("vllm:generation_tokens", "generated tokens", s.generation_tokens),
                                         ("fake:requests_received", "requests received", s.received),
                                         ("fake:requests_failed", "requests answered with a fault", s.failed)):
                    yield CounterMetricFamily(name, doc, value=value)
                yield GaugeMetricFamily("vllm:num_requests_running", "running", value=s.running)
                yield GaugeMetricFamily("vllm:num_requests_waiting", "queued", value=s.waiting)
                yield GaugeMetricFamily("vllm:kv_cache_usage_perc", "fake: running / max_concurrency",
                                        value=s.running / cap if cap else 0.0)

        class _Registry:
            def collect(self):  # noqa: ANN202
                return _Collector().collect()

        return generate_latest(_Registry())  # type: ignore[arg-type]


class _Job:
    """One generation request: its token schedule and its replies."""

    def __init__(self, server: FakeServer, conn: _Conn, req: dict, chat: bool, faults: set[str]) -> None:
        self.server, self.conn, self.chat, self.faults = server, conn, chat, faults
        cfg = server.config
        self.n = int(req.get("max_completion_tokens") or req.get("max_tokens") or cfg.default_max_tokens)
        if chat:
            msgs = req.get("messages") or []
            prompt = " ".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
        else:
            prompt = req.get("prompt", "")
            prompt = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
        self.n_in = len(prompt.split())
        self.stream = bool(req.get("stream")) and "no_stream" not in faults
        opts = req.get("stream_options") or {}
        self.usage = bool(opts.get("include_usage")) and "no_usage" not in faults
        self.continuous = bool(opts.get("continuous_usage_stats"))
        self.model = json.dumps(str(req.get("model") or cfg.model))
        self.sent = 0
        self.sep = b"\r\n\r\n" if "crlf" in faults else b"\n\n"

    def start_queued(self) -> None:
        if self.conn.closed:  # the client gave up while queued
            self.server.stats.running += 1
            self.server.release()
            return
        self.start()

    def start(self) -> None:
        server, cfg = self.server, self.server.config
        server.stats.running += 1
        if "hang" in self.faults:
            self.conn.hanging = self  # holds its slot until the client goes away
            return
        for code in (500, 429):
            if f"http{code}" in self.faults:
                server.stats.failed += 1
                self.conn.respond(code, b'{"error": {"message": "fake fault %d", "code": %d}}' % (code, code))
                server.release()
                return
        server.stats.prompt_tokens += self.n_in
        t0 = time.monotonic_ns()
        if not self.stream:
            self.due(t0 + int((cfg.ttft_ms + cfg.itl_ms * max(self.n - 1, 0)) * 1e6), self.reply_json)
            return
        self.conn.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        if "role_first" in self.faults or self.chat:
            self.conn.write(_chunk(self.event(b'{"role":"assistant","content":""}' if self.chat else b'""', 0)))
        if cfg.ttft_ms == 0 and cfg.itl_ms == 0:
            self.emit_all()
        else:
            self.due(t0 + int(cfg.ttft_ms * 1e6), self.emit_next)

    def due(self, due_ns: int, fn: Callable[[], None]) -> None:
        timers = self.server.timers
        assert timers is not None
        timers.at(due_ns, fn)

    def event(self, content: bytes, n_tokens: int, finish: bytes = b"null") -> bytes:
        t = time.monotonic_ns()
        usage = b""
        if self.continuous:
            usage = b',"usage":{"prompt_tokens":%d,"completion_tokens":%d}' % (self.n_in, self.sent + n_tokens)
        if self.chat:
            body = (b'{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,"model":%s,"choices":'
                    b'[{"index":0,"delta":%s,"finish_reason":%s}]%s,"t_emit_ns":%d}'
                    % (self.model.encode(), content, finish, usage, t))
        else:
            body = (b'{"id":"cmpl-fake","object":"text_completion","created":0,"model":%s,"choices":'
                    b'[{"index":0,"text":%s,"logprobs":null,"finish_reason":%s}]%s,"t_emit_ns":%d}'
                    % (self.model.encode(), content, finish, usage, t))
        return b"data: " + body + self.sep

    def token_event(self, k: int) -> bytes:
        text = json.dumps(TOKEN * k).encode()
        finish = b'"length"' if self.sent + k >= self.n else b"null"
        content = b'{"content":%s}' % text if self.chat else text
        ev = self.event(content, k, finish)
        self.sent += k
        return ev

    def tail(self) -> bytes:
        out = b""
        if self.usage:
            out += (b'data: {"id":"x","object":"%s","created":0,"model":%s,"choices":[],"usage":{"prompt_tokens":%d,'
                    b'"completion_tokens":%d,"total_tokens":%d}}' % (
                        b"chat.completion.chunk" if self.chat else b"text_completion", self.model.encode(),
                        self.n_in, self.sent, self.n_in + self.sent)) + self.sep
        if "no_done" not in self.faults:
            out += b"data: [DONE]" + self.sep
        return out

    def fault_now(self) -> bool:
        """error_event / disconnect strike after half the tokens; True when the request ended here."""
        if self.sent < max(self.n // 2, 1):
            return False
        stats = self.server.stats
        if "error_event" in self.faults:
            stats.failed += 1
            self.conn.write(_chunk(b'data: {"error": {"message": "fake fault: engine error", "code": 500}}'
                                   + self.sep + b"data: [DONE]" + self.sep) + b"0\r\n\r\n")
            self.server.release()
            return True
        if "disconnect" in self.faults:
            stats.failed += 1
            self.conn.abort()
            self.server.release()
            return True
        return False

    def emit_all(self) -> None:
        parts = []
        k = self.server.config.tokens_per_chunk
        while self.sent < self.n:
            parts.append(_chunk(self.token_event(min(k, self.n - self.sent))))
            if ("error_event" in self.faults or "disconnect" in self.faults) and self.sent >= max(self.n // 2, 1):
                self.conn.write(b"".join(parts))
                self.fault_now()
                return
        parts.append(_chunk(self.tail()) + b"0\r\n\r\n")
        self.conn.write(b"".join(parts))
        self.finish()

    def emit_next(self) -> None:
        if self.conn.closed:
            self.server.stats.failed += 1
            self.server.release()
            return
        k = min(self.server.config.tokens_per_chunk, self.n - self.sent)
        self.conn.write(_chunk(self.token_event(k)))
        if self.fault_now():
            return
        if self.sent >= self.n:
            self.conn.write(_chunk(self.tail()) + b"0\r\n\r\n")
            self.finish()
        else:
            self.due(time.monotonic_ns() + int(self.server.config.itl_ms * 1e6), self.emit_next)

    def reply_json(self) -> None:
        self.sent = self.n
        text = json.dumps(TOKEN * self.n)
        choice = (f'{{"index":0,"message":{{"role":"assistant","content":{text}}},"finish_reason":"length"}}'
                  if self.chat else f'{{"index":0,"text":{text},"finish_reason":"length"}}')
        body = (f'{{"id":"fake","object":"{"chat.completion" if self.chat else "text_completion"}","created":0,'
                f'"model":{self.model},"choices":[{choice}],"usage":{{"prompt_tokens":{self.n_in},'
                f'"completion_tokens":{self.n},"total_tokens":{self.n_in + self.n}}}}}')
        self.conn.respond(200, body.encode())
        self.finish()

    def finish(self) -> None:
        stats = self.server.stats
        stats.completed += 1
        stats.generation_tokens += self.sent
        stats.last_done_ns = time.monotonic_ns()
        if not stats.first_done_ns:
            stats.first_done_ns = stats.last_done_ns
        self.server.release()


class _Conn(asyncio.Protocol):
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.hanging: _Job | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.hanging is not None:
            self.hanging = None
            self.server.stats.failed += 1
            self.server.release()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.respond(400, b'{"error": {"message": "bad HTTP request"}}')
            self.abort()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.server.handle(self, self.parser.get_method(), self.url, b"".join(self.body))

    # replies
    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def respond(self, status: int, body: bytes, ctype: bytes = b"application/json") -> None:
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 429: b"Too Many Requests",
                  500: b"Internal Server Error"}.get(status, b"Error")
        self.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                   % (status, reason, ctype, len(body), body))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


async def serve(config: FakeConfig, host: str = "127.0.0.1", port: int = 0,
                ready: Callable[[int], None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    server = FakeServer(config)
    server.timers = _Timers(loop)
    srv = await loop.create_server(lambda: _Conn(server), host, port, backlog=4096, reuse_address=True)
    bound = srv.sockets[0].getsockname()[1]
    if ready:
        ready(bound)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with srv:
        await stop.wait()


def parse_args(argv: list[str] | None = None) -> tuple[FakeConfig, str, int, list[int] | None]:
    p = argparse.ArgumentParser(prog="python -m harness.loadgen.fakeserver", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--itl-ms", type=float, default=0.0)
    p.add_argument("--tokens-per-chunk", type=int, default=1)
    p.add_argument("--max-concurrency", type=int, default=0)
    p.add_argument("--fault", action="append", default=[], choices=FAULTS)
    p.add_argument("--die-after", type=int, default=0)
    p.add_argument("--model", default="fake")
    p.add_argument("--cpu", type=int, action="append", help="pin to this CPU (repeatable)")
    a = p.parse_args(argv)
    cfg = FakeConfig(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, tokens_per_chunk=a.tokens_per_chunk,
                     max_concurrency=a.max_concurrency, faults=tuple(a.fault), die_after=a.die_after, model=a.model)
    return cfg, a.host, a.port, a.cpu


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
