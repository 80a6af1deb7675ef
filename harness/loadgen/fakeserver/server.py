"""The fake server's event loop: HTTP/1.1 keep-alive over a raw asyncio protocol, precise timers, dispatch."""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import signal
import time
from collections import deque
from collections.abc import Callable

import httptools

from harness.loadgen.fakeserver.cache import PrefixCache
from harness.loadgen.fakeserver.config import FakeConfig, Stats
from harness.loadgen.fakeserver.job import Job


class Timers:
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


class FakeServer:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.queue: deque[Callable[[], None]] = deque()
        self.timers: Timers | None = None
        self.cache = PrefixCache(config.cache_block, config.cache_blocks)
        self.active: set[Job] = set()  # admitted and not yet released: what holds KV cache

    # ------------------------------------------------------------ dispatch

    def handle(self, conn: Connection, method: bytes, path: bytes, body: bytes) -> None:
        path = path.split(b"?", 1)[0]
        if method == b"GET":
            if path == b"/health":
                conn.respond(200, b"{}")
            elif path == b"/v1/models":
                conn.respond(
                    200,
                    json.dumps({"object": "list", "data": [self.model_card()]}).encode(),
                )
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
        if not self.authorized(conn.headers):
            self.stats.unauthorized += 1
            conn.respond(401, b'{"error": {"message": "unauthorized: missing or wrong key"}}')
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
        job = Job(self, conn, req, path == b"/v1/chat/completions", faults)
        if self.config.max_concurrency and self.stats.running >= self.config.max_concurrency:
            self.stats.waiting += 1
            self.queue.append(job.start_queued)
        else:
            job.start()

    def authorized(self, headers: dict[str, str]) -> bool:
        cfg = self.config
        if cfg.api_key and headers.get("authorization") != f"Bearer {cfg.api_key}":
            return False
        return all(headers.get(name) == value for name, value in cfg.required_headers)

    def model_card(self) -> dict[str, object]:
        card: dict[str, object] = {"id": self.config.model, "object": "model", "owned_by": "fake"}
        if self.config.max_model_len:
            card["max_model_len"] = self.config.max_model_len  # as vLLM lists it
        return card

    def admit(self, job: Job) -> int:
        """A request starts prefill: its cached prompt tokens (counted as vLLM counts queries and hits), and its KV
        tokens held until release; admitting it beyond ``kv_tokens`` counts a preemption."""
        cfg, s = self.config, self.stats
        hit = self.cache.lookup_insert(job.words) if cfg.prefix_cache else 0
        s.prefix_queries += job.n_in
        s.prefix_hits += hit
        self.active.add(job)
        if cfg.kv_tokens and self.kv_used() > cfg.kv_tokens:
            s.preemptions += 1
        return hit

    def kv_used(self) -> int:
        return sum(j.n_in + j.n for j in self.active)

    def release(self, job: Job | None = None) -> None:
        if job is not None:
            self.active.discard(job)
        self.stats.running -= 1
        if self.queue:
            self.stats.waiting -= 1
            self.queue.popleft()()

    def metrics_text(self) -> bytes:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from prometheus_client.exposition import generate_latest

        s, cap, kv = self.stats, self.config.max_concurrency, self.config.kv_tokens
        usage = self.kv_used() / kv if kv else (s.running / cap if cap else 0.0)

        class _Collector:
            def collect(self):  # noqa: ANN202 - prometheus_client's protocol
                for name, doc, value in (
                    ("vllm:request_success", "finished requests", s.completed),
                    ("vllm:prompt_tokens", "prompt tokens", s.prompt_tokens),
                    ("vllm:generation_tokens", "generated tokens", s.generation_tokens),
                    ("fake:requests_received", "requests received", s.received),
                    ("fake:requests_failed", "requests answered with a fault", s.failed),
                    ("vllm:prefix_cache_queries", "prompt tokens looked up in the prefix cache", s.prefix_queries),
                    ("vllm:prefix_cache_hits", "prompt tokens found in the prefix cache", s.prefix_hits),
                    ("vllm:num_preemptions", "requests admitted beyond the KV capacity", s.preemptions),
                ):
                    yield CounterMetricFamily(name, doc, value=value)
                yield GaugeMetricFamily("vllm:num_requests_running", "running", value=s.running)
                yield GaugeMetricFamily("vllm:num_requests_waiting", "queued", value=s.waiting)
                yield GaugeMetricFamily(
                    "vllm:kv_cache_usage_perc", "fake: KV tokens held / kv_tokens (else running / cap)", value=usage
                )

        class _Registry:
            def collect(self):  # noqa: ANN202
                return _Collector().collect()

        return generate_latest(_Registry())


class Connection(asyncio.Protocol):
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.hanging: Job | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.headers: dict[str, str] = {}
        self.t_read = 0  # when the bytes being parsed were read
        self.t_arrival = 0  # when the request being parsed began to arrive

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.hanging is not None:
            job, self.hanging = self.hanging, None
            self.server.stats.failed += 1
            self.server.release(job)

    def data_received(self, data: bytes) -> None:
        self.t_read = time.monotonic_ns()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.respond(400, b'{"error": {"message": "bad HTTP request"}}')
            self.abort()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body, self.headers = b"", [], {}
        self.t_arrival = self.t_read

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

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
        reason = {
            200: b"OK",
            400: b"Bad Request",
            401: b"Unauthorized",
            404: b"Not Found",
            429: b"Too Many Requests",
            500: b"Internal Server Error",
        }.get(status, b"Error")
        self.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason, ctype, len(body), body)
        )

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


async def serve(
    config: FakeConfig, host: str = "127.0.0.1", port: int = 0, ready: Callable[[int], None] | None = None
) -> None:
    loop = asyncio.get_running_loop()
    server = FakeServer(config)
    server.timers = Timers(loop)
    srv = await loop.create_server(lambda: Connection(server), host, port, backlog=4096, reuse_address=True)
    bound = srv.sockets[0].getsockname()[1]
    if ready:
        ready(bound)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with srv:
        await stop.wait()
