"""The load generator: an async OpenAI-compatible streaming client that sends requests on their schedule.

One process, one event loop (uvloop when installed), HTTP/1.1 keep-alive connections over a raw asyncio protocol with
httptools parsing: measured faster than aiohttp's client for many short streams (benchmarks/loadgen_capacity.py).

Timing follows METRICS.md: every request has a scheduled time fixed before the window starts (open loop) and TTFT and
E2E are measured from it, so a late client cannot hide server queueing; ``t_send`` is stamped right after the
request's bytes were handed to the kernel (``transport.write`` sends at once on an idle connection; only a full
socket buffer would leave bytes queued here), so the building and the write are in the send lag. Where the server
stamps each request's arrival (the fake server's ``t_arrival_ns``), the record keeps it too: the schedule lag as the
server judged it. Token-bearing chunks are stamped when their bytes arrive (one clock read per socket
read). Waits shorter than ``SPIN_NS`` are spent polling the loop, because epoll rounds timeouts up to whole
milliseconds, which alone would make every request up to 1 ms late.

Each connection is a ``harness.loadgen.connection.Connection``; replies are parsed by ``harness.loadgen.sse``; a
connection cut mid-stream and a reply that never comes (per-request timeout) fail their request here. Every failure
is stored with its cause.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

try:
    import httptools
except ImportError:  # the serve extra; the harness core must import without it
    httptools = None  # type: ignore[assignment]

from harness.hints import needs
from harness.loadgen.connection import Connection
from harness.loadgen.counts import arrival_stamp, token_counts
from harness.loadgen.http import ClientConfig, LoadgenError, Prepared, Target
from harness.loadgen.sse import Exchange
from harness.records import RequestRecord
from harness.workload.arrivals import Schedule

SPIN_NS = 1_500_000
WATCHDOG_S = 0.02


class LoadGenerator:
    """Sends prepared requests on a schedule and returns one ``RequestRecord`` per request sent."""

    def __init__(
        self, cfg: ClientConfig, clock_origin_ns: int = 0, count_tokens: Callable[[str], int] | None = None
    ) -> None:
        if httptools is None:
            raise LoadgenError(needs("the load generator", "httptools"))
        self.cfg = cfg
        self.target = Target.parse(cfg.url)
        self.origin = clock_origin_ns
        self.count_tokens = count_tokens
        self.timeout_ns = int(cfg.request_timeout_s * 1e9)
        self.idle: list[Connection] = []
        self.live: list[Connection] = []
        self.in_flight = 0
        self.sent: deque[Exchange] = deque()
        self.results: list[Exchange] = []
        self.drained: asyncio.Event | None = None
        self.server_first: dict[int, int] = {}

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: Connection(self), self.target.host, self.target.port),
                self.cfg.connect_timeout_s,
            )
        except TimeoutError:
            raise OSError(
                f"connect to {self.target.host}:{self.target.port} timed out after {self.cfg.connect_timeout_s:g}s"
            ) from None
        return proto

    def _pop_idle(self) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        return None

    # ------------------------------------------------------------ one request

    def _done(self, ex: Exchange) -> None:
        self.in_flight -= 1
        self.results.append(ex)
        if ex.server_first is not None:
            self.server_first[ex.index] = ex.server_first
        if self.in_flight == 0 and self.drained is not None:
            self.drained.set()

    def _start(
        self, index: int, t_sched: int, prepared: Prepared, on_done: Callable[[Exchange], None] | None = None
    ) -> None:
        def finished(ex: Exchange) -> None:
            self._done(ex)
            if on_done:
                on_done(ex)

        ex = Exchange(index, t_sched, prepared, finished)
        self.in_flight += 1
        if self.drained is not None:
            self.drained.clear()
        if self.in_flight > self.cfg.max_in_flight:
            ex.t_send = time.monotonic_ns()
            ex.error = f"client saturated: more than max_in_flight={self.cfg.max_in_flight} requests in flight"
            ex.finished = True
            finished(ex)
            return
        conn = self._pop_idle()
        if conn is not None:
            conn.send(ex)
            self.sent.append(ex)
        else:
            asyncio.get_running_loop().create_task(self._connect_and_send(ex))

    async def _connect_and_send(self, ex: Exchange) -> None:
        try:
            conn = await self._connect()
        except OSError as exc:
            ex.t_send = time.monotonic_ns()
            ex.error = f"connect failed: {exc.strerror or exc}"
            ex.finished = True
            ex.on_done(ex)
            return
        conn.send(ex)
        self.sent.append(ex)

    def resend(self, ex: Exchange) -> None:
        ex.retried = True
        asyncio.get_running_loop().create_task(self._resend(ex))

    async def _resend(self, ex: Exchange) -> None:
        try:
            conn = await self._connect()
        except OSError as exc:
            ex.broken(
                f"connection closed by the server before any reply; reconnect failed: {exc.strerror or exc}",
                time.monotonic_ns(),
            )
            return
        if ex.finished:  # timed out meanwhile
            self.idle.append(conn)
            return
        conn.ex = ex
        assert conn.transport is not None
        conn.transport.write(ex.prepared.data)
        ex.t_send = time.monotonic_ns()  # the bytes the server answers left now; t_sched stays

    async def _watchdog(self) -> None:
        """Per-request timeouts. Deadlines grow in send order, so only the head of the queue needs looking at."""
        while True:
            await asyncio.sleep(WATCHDOG_S)
            now = time.monotonic_ns()
            sent = self.sent
            while sent and (sent[0].finished or sent[0].deadline <= now):
                ex = sent.popleft()
                if not ex.finished:
                    ex.fail(f"timeout: no complete reply within request_timeout_s={self.cfg.request_timeout_s:g}")
                    for conn in self._owners(ex):
                        conn.ex = None
                        conn.abort()
                    ex.finished = True
                    ex.on_done(ex)

    def _owners(self, ex: Exchange) -> list[Connection]:
        # Connections are few compared with requests; only timed-out requests (rare) pay this scan.
        return [c for c in self.live if c.ex is ex]

    # ------------------------------------------------------------ windows

    async def _warm(self, n: int) -> None:
        conns = await asyncio.gather(*(self._connect() for _ in range(n)), return_exceptions=True)
        for c in conns:
            if isinstance(c, BaseException):
                raise LoadgenError(f"cannot connect to {self.cfg.url}: {c}")
            c.reused = True
            self.idle.append(c)

    async def run(
        self, schedule: Schedule, requests: Sequence[Prepared], duration_s: float | None = None
    ) -> list[RequestRecord]:
        """One window. ``requests[i]`` is request i's payload. Returns records ordered by index (run clock)."""
        if len(requests) < schedule.num_requests:
            raise ValueError("fewer prepared requests than scheduled")
        self.drained = asyncio.Event()
        self.drained.set()
        self.results = []
        watchdog = asyncio.get_running_loop().create_task(self._watchdog())
        gc_was = gc.isenabled()
        try:
            if self.cfg.warm_connections:
                await self._warm(self.cfg.warm_connections)
            gc.collect()
            gc.disable()  # a collection pause in the window is lateness that the server never caused
            if schedule.offsets_ns is not None:
                await self._open_loop(schedule.offsets_ns, requests)
            else:
                await self._closed_loop(schedule.concurrency or 1, schedule.num_requests, requests, duration_s)
            await self.drained.wait()
        finally:
            if gc_was:
                gc.enable()
            watchdog.cancel()
            for conn in self.live:
                conn.abort()
            self.live.clear()
            self.idle.clear()
            self.sent.clear()
        return [self._record(ex) for ex in sorted(self.results, key=lambda e: e.index)]

    async def _open_loop(self, offsets: Sequence[int], requests: Sequence[Prepared]) -> None:
        start = time.monotonic_ns() + int(0.02e9)
        sleep = asyncio.sleep
        now_ns = time.monotonic_ns
        for i, off in enumerate(offsets):
            due = start + off
            while True:
                gap = due - now_ns()
                if gap <= 0:
                    break
                await sleep((gap - SPIN_NS) / 1e9 if gap > 2 * SPIN_NS else 0)
            self._start(i, due, requests[i])

    async def _closed_loop(
        self, concurrency: int, total: int, requests: Sequence[Prepared], duration_s: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        next_index = 0
        stop_at = time.monotonic_ns() + int(duration_s * 1e9) if duration_s else None

        async def user() -> None:
            nonlocal next_index
            while next_index < total and (stop_at is None or time.monotonic_ns() < stop_at):
                i = next_index
                next_index += 1
                fut: asyncio.Future[None] = loop.create_future()

                def wake(_ex: Exchange, f: asyncio.Future[None] = fut) -> None:
                    if not f.done():
                        f.set_result(None)

                self._start(i, time.monotonic_ns(), requests[i], wake)
                await fut

        await asyncio.gather(*(user() for _ in range(concurrency)))

    # ------------------------------------------------------------ records

    def _record(self, ex: Exchange) -> RequestRecord:
        o = self.origin
        t_sched = ex.t_sched
        t_send = ex.t_send or t_sched
        if ex.t_send and ex.t_send < t_sched:
            t_sched = t_send
        ok = ex.error is None and bool(ex.times)
        tokens, n_out, n_out_source, n_out_client = token_counts(ex, self.count_tokens)
        arrival = arrival_stamp(ex, t_sched)
        n_in, n_in_source = ex.n_in, "usage"
        if n_in is None:
            n_in, n_in_source = ex.prepared.n_in, ex.prepared.n_in_source
        return RequestRecord(
            index=ex.index,
            t_sched_ns=t_sched - o,
            t_send_ns=t_send - o,
            t_first_ns=ex.times[0] - o if ok else None,
            t_end_ns=ex.times[-1] - o if ex.times else None,
            chunk_times_ns=[t - o for t in ex.times],
            chunk_tokens=tokens,
            n_in=n_in,
            n_out=n_out if ex.times else 0,
            n_in_source=n_in_source,
            n_out_source=n_out_source,
            error=ex.error,
            n_cached=ex.n_cached,
            n_out_client=n_out_client,
            t_arrival_ns=arrival - o if arrival is not None else None,
        )


# ---------------------------------------------------------------- entry points


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_sync(coro_fn: Callable[[], Any]) -> Any:
    """Run ``coro_fn()`` on a fresh (uv)loop: the worker and the benchmarks are synchronous."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro_fn())
