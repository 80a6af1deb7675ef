"""The OpenAI-compatible requests the load generator sends, built once before a window, and small blocking HTTP
helpers (reachability probes, health checks, ``/metrics`` scrapes)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit


class LoadgenError(Exception):
    """The target cannot be used at all (bad URL, unreachable); one line."""


@dataclass
class ClientConfig:
    url: str
    model: str
    api: Literal["completions", "chat"] = "completions"
    request_timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    warm_connections: int = 0  # opened before the window, so the first requests do not pay the TCP handshake
    max_in_flight: int = 4096  # beyond it a request fails at once ("client saturated") instead of growing unbounded
    headers: dict[str, str] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)
    ignore_eos: bool = True  # vLLM / llama.cpp honour it: exactly max_tokens tokens
    include_usage: bool = True
    continuous_usage: bool = False  # vLLM's per-chunk usage: exact tokens per chunk


@dataclass
class Target:
    host: str
    port: int
    path_prefix: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise LoadgenError(f"url {url!r}: only http:// URLs are supported (local servers)")
        if not parts.hostname:
            raise LoadgenError(f"url {url!r}: no host")
        prefix = parts.path.rstrip("/")
        if not prefix.endswith("/v1"):
            prefix += "/v1"
        return cls(parts.hostname, parts.port or 80, prefix)


def build_body(cfg: ClientConfig, prompt: str | list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    """A streaming request. ``prompt`` is a text or a conversation (``[{role, content}]``): chat sends the messages,
    completions their contents separated by blank lines."""
    body: dict[str, Any] = {"model": cfg.model, "max_tokens": max_tokens, "stream": True}
    if cfg.api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    else:
        body["prompt"] = prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)
    if cfg.include_usage:
        body["stream_options"] = {
            "include_usage": True,
            **({"continuous_usage_stats": True} if cfg.continuous_usage else {}),
        }
    if cfg.ignore_eos:
        body["ignore_eos"] = True
    body.update(cfg.extra_body)
    return body


def build_request(cfg: ClientConfig, target: Target, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    path = f"{target.path_prefix}/{'chat/completions' if cfg.api == 'chat' else 'completions'}"
    extra = "".join(f"{k}: {v}\r\n" for k, v in cfg.headers.items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(payload)}\r\n{extra}\r\n"
    )
    return head.encode() + payload


@dataclass
class Prepared:
    """One request ready to go: its bytes, and what the client knows of its prompt."""

    data: bytes
    n_in: int | None = None
    n_in_source: str = "words"


def probe(url: str, timeout_s: float = 5.0) -> None:
    """Raise ``LoadgenError`` (one line) unless a TCP connection to the URL's server opens within ``timeout_s``."""
    target = Target.parse(url)
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise LoadgenError(
            f"cannot connect to {url} ({target.host}:{target.port}): "
            f"{exc.strerror or exc or 'timed out'} (within connect timeout {timeout_s:g}s)"
        ) from None


def http_get(url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """A small blocking GET (health checks, /metrics scrapes) with the standard library."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - local http URLs only
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
