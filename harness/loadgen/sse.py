"""One request in flight and what its reply showed: SSE events parsed as they arrive, then the outcome.

Parsing survives what real servers do: a role-only or empty first chunk (not a token), a usage-only final chunk
(``choices: []``), no ``[DONE]``, several tokens in one chunk, CRLF separators, an error event mid-stream (the
request fails with the server's message), a non-2xx answer, a JSON (non-streamed) answer.

What a server says is not trusted. One SSE event (or a non-streamed body) may be at most ``MAX_EVENT_BYTES``; a
larger one fails its request with one line and the rest of that reply is dropped unread, so memory stays bounded.
Buffering is linear: a read is appended once and only its new bytes are searched for the event separator (a 64 MB
event used to take 14 s; ``benchmarks/sse_parse.py``). A token count in ``usage`` that is not an integer in
``[0, MAX_TOKEN_COUNT]`` (a string, 1e300, 10**30, a negative, a cumulative count going backwards) fails that request
with the field named; the window's other requests are unaffected. Reasoning deltas
(``reasoning_content``, or ``reasoning``) are generated tokens like ``content``: the first of them is the first token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from harness.loadgen.http import Prepared

MAX_EVENT_BYTES = 16 * 2**20
MAX_TOKEN_COUNT = 2**31 - 1  # far above any context window; beyond it a count is a server's bug

try:  # 4x faster than json on a chunk (0.75 against 2.9 us), and parsing chunks is most of the client's time
    import orjson
except ImportError:  # optional: the standard library parses the same
    orjson = None  # type: ignore[assignment]


def loads(data: bytes) -> Any:
    """One chunk's JSON. What orjson refuses (NaN, and nesting deeper than it allows) goes to ``json``, which has
    the last word: both accept and refuse alike, so the parser used never changes a request's outcome."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def token_count(value: object, field: str) -> int:
    """A server-reported token count as an int; ``ValueError`` naming the field when it cannot be one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"server sent a non-numeric {field}: {str(value)[:40]!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"server sent a non-integer {field}: {value!r}")
    if not 0 <= value <= MAX_TOKEN_COUNT:
        raise ValueError(f"server sent an impossible {field}: {str(value)[:40]}")
    return int(value)


def _text(obj: dict) -> str:
    """The generated text a reply object carries (completions ``text``, chat ``delta``/``message`` content);
    ``ValueError`` for a shape no server sends. One pass: this runs once per streamed chunk."""
    choices = obj.get("choices")
    if not choices:
        return ""
    if not isinstance(choices, list):
        raise ValueError(f"server sent choices that are not a list: {str(choices)[:40]!r}")
    if len(choices) == 1:
        return _choice(choices[0])
    return "".join(_choice(choice) for choice in choices)


def _choice(choice: object) -> str:
    """The generated text one choice of a chunk carries: a completion's ``text``, or a chat delta's (or message's)
    reasoning (``reasoning_content``, else ``reasoning``: servers name it either way, some send both alike) and
    ``content``. A role-only delta carries none."""
    if not isinstance(choice, dict):
        raise ValueError(f"server sent a choice that is not an object: {str(choice)[:40]!r}")
    piece = choice.get("text")
    if piece is not None:
        if isinstance(piece, str):
            return piece
        if piece:
            raise ValueError(f"server sent generated text that is not a string: {str(piece)[:40]!r}")
        return ""
    delta = choice.get("delta") or choice.get("message") or {}
    if not isinstance(delta, dict):
        raise ValueError(f"server sent a delta that is not an object: {str(delta)[:40]!r}")
    content = _string(delta.get("content")) or ""
    if "reasoning_content" not in delta and "reasoning" not in delta:
        return content
    reasoning = _string(delta.get("reasoning_content"))
    other = _string(delta.get("reasoning"))
    return (reasoning or other or "") + content


def _string(value: object) -> str | None:
    if value and not isinstance(value, str):
        raise ValueError(f"server sent generated text that is not a string: {str(value)[:40]!r}")
    return value or None  # type: ignore[return-value]


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
        "scanned",
        "cr",
        "dropping",
        "raw",
        "raw_bytes",
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
        self.buf = bytearray()
        self.scanned = 0  # bytes of ``buf`` already searched for the event separator
        self.cr = False  # the last read ended in \r: its \n may start the next one
        self.dropping = False  # an oversized event failed the request: the rest of the reply is not kept
        self.raw: list[bytes] = []
        self.raw_bytes = 0
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
        if self.dropping:
            return
        if self.cr:
            data = b"\r" + data
            self.cr = False
        if b"\r" in data:
            if data.endswith(b"\r"):  # a lone trailing \r waits for its \n in the next read
                data, self.cr = data[:-1], True
            data = data.replace(b"\r\n", b"\n")
        buf = self.buf
        buf += data
        start = 0
        pos = max(self.scanned - 1, 0)  # a separator may straddle the old and the new bytes
        while True:
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            self.event(bytes(buf[start:end]), now)
            start = pos = end + 2
        if start:
            del buf[:start]
        self.scanned = len(buf)
        if len(buf) > MAX_EVENT_BYTES:
            self.oversized("SSE event")

    def oversized(self, what: str) -> None:
        self.fail(f"{what} larger than the {MAX_EVENT_BYTES // 2**20} MiB limit (MAX_EVENT_BYTES); reply dropped")
        self.dropping = True
        self.buf = bytearray()
        self.raw = []

    def body(self, data: bytes) -> None:
        """A non-SSE body piece (JSON reply or error page), kept up to the same limit."""
        if self.dropping:
            return
        self.raw_bytes += len(data)
        if self.raw_bytes > MAX_EVENT_BYTES:
            self.oversized("reply body")
            return
        self.raw.append(data)

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
        if data[:1] != b"{" and data.strip() == b"[DONE]":
            return
        try:
            obj = loads(data)
        except (ValueError, RecursionError):
            self.fail(f"malformed SSE data: {data[:120]!r}")
            return
        if not isinstance(obj, dict):
            return
        err = obj.get("error")
        if kind == b"error" or (err and not obj.get("choices")):
            msg = err.get("message", err) if isinstance(err, dict) else (err or data[:200].decode(errors="replace"))
            self.fail(f"server error event after {len(self.times)} token chunks: {str(msg)[:500]}")
            return
        try:
            text = _text(obj)
            ct = self._usage(obj)
        except ValueError as exc:
            self.fail(str(exc))
            return
        self.server_stamps(obj, obj.get("timings"))
        if text:
            self.times.append(now)
            self.texts.append(text)
            if ct is not None:  # per-chunk (continuous) usage: the exact tokens this chunk carried
                if ct < self.last_ct:
                    self.fail(f"server's cumulative usage.completion_tokens went backwards ({self.last_ct} → {ct})")
                    return
                self.tokens.append(ct - self.last_ct)
                self.last_ct = ct
            else:
                self.tokens.append(None)
            emitted = obj.get("t_emit_ns")
            if self.server_first is None and isinstance(emitted, int) and not isinstance(emitted, bool):
                self.server_first = emitted
        if ct is not None:
            self.n_out = ct

    def _usage(self, obj: dict) -> int | None:
        """Take the counts of ``usage`` (and llama.cpp's ``timings``); the completion count, if any. ``ValueError``
        for a count that cannot be true."""
        usage = obj.get("usage")
        ct = None
        if isinstance(usage, dict) and usage:
            if usage.get("completion_tokens") is not None:
                ct = token_count(usage["completion_tokens"], "usage.completion_tokens")
            if usage.get("prompt_tokens") is not None:
                self.n_in = token_count(usage["prompt_tokens"], "usage.prompt_tokens")
            details = usage.get("prompt_tokens_details")
            cached = details.get("cached_tokens") if isinstance(details, dict) else None
            if cached is not None:
                self.n_cached = token_count(cached, "usage.prompt_tokens_details.cached_tokens")
        elif usage:
            raise ValueError(f"server sent a usage that is not an object: {str(usage)[:40]!r}")
        timings = obj.get("timings")
        if isinstance(timings, dict) and timings.get("cache_n") is not None:  # llama.cpp's server
            self.n_cached = token_count(timings["cache_n"], "timings.cache_n")
        return ct

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
            self.event(bytes(self.buf.strip()), now)  # a last event without its blank line
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
