"""One request in flight and what its reply showed: SSE events parsed as they arrive, then the outcome.

Parsing survives what real servers do: a role-only or empty first chunk (not a token), a usage-only final chunk
(``choices: []``), no ``[DONE]``, several tokens in one chunk, CRLF separators, an error event mid-stream (the
request fails with the server's message), a non-2xx answer, a JSON (non-streamed) answer. Reasoning deltas
(``reasoning_content``, or ``reasoning``) are generated tokens like ``content``: the first of them is the first token.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from harness.loadgen.http import Prepared


class Exchange:
    """One request in flight and what its reply showed so far."""

    __slots__ = (
        "index",
        "t_sched",
        "t_send",
        "deadline",
        "status",
        "sse",
        "times",
        "texts",
        "tokens",
        "n_in",
        "n_out",
        "error",
        "buf",
        "raw",
        "finished",
        "on_done",
        "until_eof",
        "server_first",
        "prepared",
        "last_ct",
        "got_bytes",
        "retried",
        "n_cached",
        "server_arrival",
        "n_out_timings",
    )

    def __init__(self, index: int, t_sched: int, prepared: Prepared, on_done: Callable[[Exchange], None]) -> None:
        self.index, self.t_sched, self.prepared, self.on_done = index, t_sched, prepared, on_done
        self.t_send = 0
        self.deadline = 0
        self.status = 0
        self.sse = True
        self.times: list[int] = []
        self.texts: list[str] = []
        self.tokens: list[int | None] = []
        self.n_in: int | None = None
        self.n_out: int | None = None
        self.error: str | None = None
        self.buf = b""
        self.raw: list[bytes] = []
        self.finished = False
        self.until_eof = True
        self.server_first: int | None = None
        self.last_ct = 0
        self.got_bytes = False
        self.retried = False
        self.n_cached: int | None = None
        self.server_arrival: int | None = None  # the server's own stamp of the request's arrival (its clock)
        self.n_out_timings: int | None = None  # llama.cpp's ``timings.predicted_n``: its count when usage is absent

    # ------------------------------------------------------------ SSE

    def feed(self, data: bytes, now: int) -> None:
        buf = self.buf + data if self.buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")  # a lone trailing \r waits for its \n in the next read
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self.event(buf[start:end], now)
            start = end + 2
        self.buf = buf[start:]

    def event(self, block: bytes, now: int) -> None:
        if block.startswith(b"data: ") and b"\n" not in block:
            data, kind = block[6:], b""
        else:
            parts, kind = [], b""
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    parts.append(line[5:].lstrip(b" ") if line[5:6] == b" " else line[5:])
                elif line.startswith(b"event:"):
                    kind = line[6:].strip()
            if not parts:
                return  # a comment or keep-alive
            data = b"\n".join(parts)
        if data.strip() == b"[DONE]":
            return
        try:
            obj = json.loads(data)
        except ValueError:
            self.fail(f"malformed SSE data: {data[:120]!r}")
            return
        if not isinstance(obj, dict):
            return
        err = obj.get("error")
        if kind == b"error" or (err and not obj.get("choices")):
            msg = err.get("message", err) if isinstance(err, dict) else (err or data[:200].decode(errors="replace"))
            self.fail(f"server error event after {len(self.times)} token chunks: {msg}")
            return
        text = "".join(choice_text(c) for c in obj.get("choices") or () if isinstance(c, dict))
        usage = obj.get("usage")
        ct = None
        if usage:
            ct = usage.get("completion_tokens")
            if usage.get("prompt_tokens") is not None:
                self.n_in = usage["prompt_tokens"]
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
            if cached is not None:
                self.n_cached = int(cached)
        timings = obj.get("timings")
        if isinstance(timings, dict) and timings.get("cache_n") is not None:  # llama.cpp's server
            self.n_cached = int(timings["cache_n"])
        self.server_stamps(obj, timings)
        if text:
            self.times.append(now)
            self.texts.append(text)
            if ct is not None:  # per-chunk (continuous) usage: the exact tokens this chunk carried
                self.tokens.append(ct - self.last_ct)
                self.last_ct = ct
            else:
                self.tokens.append(None)
            if self.server_first is None and "t_emit_ns" in obj:
                self.server_first = obj["t_emit_ns"]
        if ct is not None:
            self.n_out = ct

    def server_stamps(self, obj: dict, timings: object) -> None:
        """What a server says of the request beside its tokens: its arrival stamp (the fake server's
        ``t_arrival_ns``, CLOCK_MONOTONIC of its host) and llama.cpp's generated-token count (``timings``)."""
        if self.server_arrival is None:
            stamp = obj.get("t_arrival_ns")
            if isinstance(stamp, int):
                self.server_arrival = stamp
        if isinstance(timings, dict):
            predicted = timings.get("predicted_n")
            if isinstance(predicted, int) and predicted >= 0:
                self.n_out_timings = predicted

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why

    def body_json(self, now: int) -> None:
        """A non-streamed reply: one JSON document; the whole completion arrived at once."""
        raw = b"".join(self.raw)
        try:
            obj = json.loads(raw)
        except ValueError:
            self.fail(f"reply is neither SSE nor JSON: {raw[:120]!r}")
            return
        self.event(b"data: " + json.dumps(obj).encode(), now)

    def complete(self, now: int) -> None:
        if self.finished:
            return
        self.finished = True
        if self.status and not 200 <= self.status < 300:
            body = b"".join(self.raw)[:200].decode(errors="replace").strip()
            self.fail(f"HTTP {self.status}: {body}")
        elif self.status and not self.sse and self.error is None:
            self.body_json(now)
        if self.buf.strip() and self.error is None:
            self.event(self.buf.strip(), now)  # a last event without its blank line
        if self.error is None and not self.times:
            self.fail("the reply carried no generated token")
        self.on_done(self)

    def broken(self, why: str, now: int) -> None:
        if self.finished:
            return
        if self.status and self.until_eof and 200 <= self.status < 300:
            self.complete(now)  # a reply delimited by the connection's close: its end is the close
            return
        self.fail(f"{why} after {len(self.times)} token chunks" if self.got_bytes else why)
        self.finished = True
        self.on_done(self)


def choice_text(choice: dict) -> str:
    """The generated text one choice of a chunk carries: a completion's ``text``, or a chat delta's (or message's)
    reasoning (``reasoning_content``, else ``reasoning``: servers name it either way, some send both alike) and
    ``content``. A role-only delta carries none."""
    piece = choice.get("text")
    if isinstance(piece, str):
        return piece
    delta = choice.get("delta") or choice.get("message") or {}
    if not isinstance(delta, dict):
        return ""
    reasoning = delta.get("reasoning_content")
    if not isinstance(reasoning, str) or not reasoning:
        reasoning = delta.get("reasoning")
    content = delta.get("content")
    return (reasoning if isinstance(reasoning, str) else "") + (content if isinstance(content, str) else "")
