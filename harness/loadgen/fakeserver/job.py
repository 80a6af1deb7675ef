"""One generation request on the fake server: its token schedule, its faults and its replies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from harness.loadgen.fakeserver.config import TOKEN, FakeConfig, Stats, http_chunk


class Timers(Protocol):
    def at(self, due_ns: int, fn: Callable[[], None]) -> None: ...


class FakeServer(Protocol):
    """What a job needs of the server (``server.FakeServer``): settings, counters, timers, a freed slot."""

    @property
    def config(self) -> FakeConfig: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def timers(self) -> Timers | None: ...

    def release(self, job: Job | None = None) -> None: ...

    def admit(self, job: Job) -> int: ...


class Connection(Protocol):
    """What a job needs of its connection (``server.Connection``)."""

    closed: bool
    hanging: Any
    t_arrival: int

    def write(self, data: bytes) -> None: ...

    def respond(self, status: int, body: bytes, ctype: bytes = ...) -> None: ...

    def abort(self) -> None: ...


class Job:
    """One generation request: its token schedule and its replies."""

    def __init__(self, server: FakeServer, conn: Connection, req: dict, chat: bool, faults: set[str]) -> None:
        self.server, self.conn, self.chat, self.faults = server, conn, chat, faults
        cfg = server.config
        self.n = int(req.get("max_completion_tokens") or req.get("max_tokens") or cfg.default_max_tokens)
        if chat:
            msgs = req.get("messages") or []
            prompt = " ".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
        else:
            prompt = req.get("prompt", "")
            prompt = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
        self.words = prompt.split()
        self.n_in = len(self.words)
        self.cached = 0
        self.stream = bool(req.get("stream")) and "no_stream" not in faults
        opts = req.get("stream_options") or {}
        self.usage = bool(opts.get("include_usage")) and "no_usage" not in faults
        self.continuous = bool(opts.get("continuous_usage_stats"))
        self.model = json.dumps(str(req.get("model") or cfg.model))
        self.sent = 0
        self.sep = b"\r\n\r\n" if "crlf" in faults else b"\n\n"
        self.t_arrival = conn.t_arrival
        self.reasoning_key = b"reasoning_content" if "reasoning" in faults else b"reasoning"
        self.reasoning = chat and bool({"reasoning", "reasoning_field"} & faults)

    def start_queued(self) -> None:
        if self.conn.closed:  # the client gave up while queued
            self.server.stats.running += 1
            self.server.release(self)
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
                server.release(self)
                return
        if cfg.max_model_len and self.n_in + self.n > cfg.max_model_len:
            server.stats.failed += 1
            msg = (
                f"This model's maximum context length is {cfg.max_model_len} tokens. However, you requested "
                f"{self.n_in + self.n} tokens ({self.n_in} in the messages, {self.n} in the completion)."
            )
            self.conn.respond(400, json.dumps({"error": {"message": msg, "code": 400}}).encode())
            server.release(self)
            return
        server.stats.prompt_tokens += self.n_in
        self.cached = server.admit(self)
        t0 = time.monotonic_ns()
        ttft_ms = cfg.ttft_ms + cfg.prefill_us_per_token * (self.n_in - self.cached) / 1e3
        if not self.stream:
            self.due(t0 + int((ttft_ms + cfg.itl_ms * max(self.n - 1, 0)) * 1e6), self.reply_json)
            return
        self.conn.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        if "role_first" in self.faults or self.chat:
            self.conn.write(http_chunk(self.event(b'{"role":"assistant","content":""}' if self.chat else b'""', 0)))
        if ttft_ms == 0 and cfg.itl_ms == 0:
            self.emit_all()
        else:
            self.due(t0 + int(ttft_ms * 1e6), self.emit_next)

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
            body = (
                b'{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,"model":%s,"choices":'
                b'[{"index":0,"delta":%s,"finish_reason":%s}]%s,"t_emit_ns":%d,"t_arrival_ns":%d}'
                % (self.model.encode(), content, finish, usage, t, self.t_arrival)
            )
        else:
            body = (
                b'{"id":"cmpl-fake","object":"text_completion","created":0,"model":%s,"choices":'
                b'[{"index":0,"text":%s,"logprobs":null,"finish_reason":%s}]%s,"t_emit_ns":%d,"t_arrival_ns":%d}'
                % (self.model.encode(), content, finish, usage, t, self.t_arrival)
            )
        return b"data: " + body + self.sep

    def token_event(self, k: int) -> bytes:
        text = json.dumps(TOKEN * k).encode()
        finish = b'"length"' if self.sent + k >= self.n else b"null"
        key = self.reasoning_key if self.reasoning and self.sent < self.n // 2 else b"content"
        content = b'{"%s":%s}' % (key, text) if self.chat else text
        ev = self.event(content, k, finish)
        self.sent += k
        return ev

    def tail(self) -> bytes:
        out = b""
        if self.usage:
            out += (
                b'data: {"id":"x","object":"%s","created":0,"model":%s,"choices":[],"usage":{"prompt_tokens":%d,'
                b'"completion_tokens":%d,"total_tokens":%d%s}}'
                % (
                    b"chat.completion.chunk" if self.chat else b"text_completion",
                    self.model.encode(),
                    self.n_in,
                    self.sent,
                    self.n_in + self.sent,
                    self.cached_usage().encode(),
                )
            ) + self.sep
        if "no_done" not in self.faults:
            out += b"data: [DONE]" + self.sep
        return out

    def cached_usage(self) -> str:
        """OpenAI's usage detail of prompt tokens served from the cache (vLLM sends it when asked to)."""
        return f',"prompt_tokens_details":{{"cached_tokens":{self.cached}}}' if self.server.config.prefix_cache else ""

    def fault_now(self) -> bool:
        """error_event / disconnect strike after half the tokens; True when the request ended here."""
        if self.sent < max(self.n // 2, 1):
            return False
        stats = self.server.stats
        if "error_event" in self.faults:
            stats.failed += 1
            self.conn.write(
                http_chunk(
                    b'data: {"error": {"message": "fake fault: engine error", "code": 500}}'
                    + self.sep
                    + b"data: [DONE]"
                    + self.sep
                )
                + b"0\r\n\r\n"
            )
            self.server.release(self)
            return True
        if "disconnect" in self.faults:
            stats.failed += 1
            self.conn.abort()
            self.server.release(self)
            return True
        return False

    def emit_all(self) -> None:
        parts = []
        k = self.server.config.tokens_per_chunk
        while self.sent < self.n:
            parts.append(http_chunk(self.token_event(min(k, self.n - self.sent))))
            if ("error_event" in self.faults or "disconnect" in self.faults) and self.sent >= max(self.n // 2, 1):
                self.conn.write(b"".join(parts))
                self.fault_now()
                return
        parts.append(http_chunk(self.tail()) + b"0\r\n\r\n")
        self.conn.write(b"".join(parts))
        self.finish()

    def emit_next(self) -> None:
        if self.conn.closed:
            self.server.stats.failed += 1
            self.server.release(self)
            return
        k = min(self.server.config.tokens_per_chunk, self.n - self.sent)
        self.conn.write(http_chunk(self.token_event(k)))
        if self.fault_now():
            return
        if self.sent >= self.n:
            self.conn.write(http_chunk(self.tail()) + b"0\r\n\r\n")
            self.finish()
        else:
            self.due(time.monotonic_ns() + int(self.server.config.itl_ms * 1e6), self.emit_next)

    def reply_json(self) -> None:
        self.sent = self.n
        text = json.dumps(TOKEN * self.n)
        choice = (
            f'{{"index":0,"message":{{"role":"assistant","content":{text}}},"finish_reason":"length"}}'
            if self.chat
            else f'{{"index":0,"text":{text},"finish_reason":"length"}}'
        )
        body = (
            f'{{"id":"fake","object":"{"chat.completion" if self.chat else "text_completion"}","created":0,'
            f'"model":{self.model},"choices":[{choice}],"usage":{{"prompt_tokens":{self.n_in},'
            f'"completion_tokens":{self.n},"total_tokens":{self.n_in + self.n}{self.cached_usage()}}},'
            f'"t_arrival_ns":{self.t_arrival}}}'
        )
        self.conn.respond(200, body.encode())
        self.finish()

    def finish(self) -> None:
        stats = self.server.stats
        stats.completed += 1
        stats.generation_tokens += self.sent
        stats.last_done_ns = time.monotonic_ns()
        if not stats.first_done_ns:
            stats.first_done_ns = stats.last_done_ns
        self.server.release(self)
