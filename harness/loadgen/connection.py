"""One HTTP/1.1 keep-alive connection of the load generator: a raw asyncio protocol parsed by httptools.

``t_send`` is stamped right after the request's bytes were handed to the kernel; a reply's bytes are stamped once
per socket read, and every SSE event of that read carries the stamp. An idle connection the server closed as it was
reused sends its request once more on a fresh one (``LoadGenerator.resend``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

try:
    import httptools
except ImportError:  # the serve extra; ``LoadGenerator`` says which extra is missing before any connection
    httptools = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from harness.loadgen.client import LoadGenerator
    from harness.loadgen.sse import Exchange


class Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, and feeds its streamed reply to the request's ``Exchange``."""

    def __init__(self, client: LoadGenerator) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.ex: Exchange | None = None
        self.closed = False
        self.reused = False  # has waited idle in the pool, where the server may close it at any moment
        self.now = 0
        self.pending: list[bytes] = []  # SSE body pieces of this read, fed to the exchange at once (_flush)
        client.live.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, ex: Exchange) -> None:
        self.ex = ex
        assert self.transport is not None
        self.transport.write(ex.prepared.data)
        ex.t_send = time.monotonic_ns()  # after the write: the bytes are the kernel's now
        ex.deadline = ex.t_send + self.client.timeout_ns

    def data_received(self, data: bytes) -> None:
        self.now = time.monotonic_ns()
        ex = self.ex
        if ex is not None:
            ex.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError as exc:
            self._flush()
            if self.ex is not None:
                self.ex.broken(f"bad HTTP response: {exc}", self.now)
                self.ex = None
            self.abort()
        self._flush()

    def _flush(self) -> None:
        """Feed the SSE pieces of this read in one go: a read of a fast stream holds many HTTP chunks, and one
        ``feed`` per read instead of per chunk is a tenth of the client's time (benchmarks/loadgen_capacity.py).
        Every event of one read carries the read's stamp either way."""
        if self.pending:
            data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
            self.pending.clear()
            if self.ex is not None:
                self.ex.feed(data, self.now)

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.ex
        if ex is None:
            return
        lname = name.lower()
        if lname == b"content-type":
            ex.sse = b"text/event-stream" in value.lower()
        elif lname in (b"content-length", b"transfer-encoding"):
            ex.until_eof = False

    def on_headers_complete(self) -> None:
        if self.ex is not None:
            self.ex.status = self.parser.get_status_code()
            if not 200 <= self.ex.status < 300:
                self.ex.sse = False

    def on_body(self, body: bytes) -> None:
        ex = self.ex
        if ex is None:
            return
        if ex.sse:
            self.pending.append(body)
        else:
            ex.body(body)

    def on_message_complete(self) -> None:
        self._flush()  # the reply's last events come before its end
        ex, self.ex = self.ex, None
        keep = self.parser.should_keep_alive()
        if ex is not None:
            ex.complete(self.now)
        if keep and not self.closed:
            self.reused = True
            self.client.idle.append(self)
        else:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex, self.ex = self.ex, None
        if ex is not None and self.reused and not ex.got_bytes and not ex.retried and not ex.finished:
            # The server closed an idle keep-alive connection as we reused it (uvicorn does after 5 s idle) and
            # nothing of the reply came: send the request once more on a fresh connection, as HTTP clients do.
            # Its t_sched stays, so the delay is in its TTFT; a dead server fails the reconnect with its cause.
            self.client.resend(ex)
            return
        if ex is not None:
            why = f"connection lost: {exc}" if exc else "connection closed by the server mid-response"
            ex.broken(why, time.monotonic_ns())

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
