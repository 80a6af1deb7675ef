"""Any running OpenAI-compatible server, attached by URL (``adapter: openai``).

``args``: ``url`` (the server's base URL), ``metrics_url`` (its Prometheus endpoint; ``null`` to skip scraping;
default: ``/metrics`` beside the URL), and the client settings every server engine takes (``ServerArgs``), among
them the key: ``api_key_env: OPENAI_API_KEY`` (sent as ``Authorization: Bearer …``) or a header ``{env: NAME}``.
A URL's ``user:password@`` is refused: credentials are never part of what the suite stores.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from harness.adapters.base import AdapterError, ServerAdapter, ServerArgs
from pydantic import Field, field_validator

from harness.loadgen.http import LoadgenError, probe
from harness.plan.points import EngineConfig


def http_url(value: str) -> str:
    """``value`` if it is an ``http://host[:port][/path]`` URL: the load generator speaks plain HTTP only."""
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r} holds a space or a control character")
    parts = urlsplit(value)
    if "@" in parts.netloc:  # checked first: the message must not quote the URL
        raise ValueError("credentials in the URL (user:password@): give the key by api_key_env or a header {env: NAME}")
    if parts.scheme != "http":
        raise ValueError(f"{value!r}: only http:// URLs are supported (the client speaks plain HTTP)")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    if not parts.hostname:
        raise ValueError(f"{value!r}: no host")
    return value


class OpenAIArgs(ServerArgs):
    url: str = Field(description="the server's base URL, e.g. http://127.0.0.1:8000")
    metrics_url: str | None = None

    @field_validator("url", "metrics_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)


class OpenAIServer(ServerAdapter):
    """An already running OpenAI-compatible server at ``args.url``."""

    name = "openai"
    Args = OpenAIArgs

    @classmethod
    def check_model(cls, name: str) -> None:
        """The model is whatever the server serves: its name is sent as is."""

    @classmethod
    def preflight(cls, engine: EngineConfig) -> None:
        """An unreachable URL stops the run before it starts (bad input, not a failed point)."""
        args = OpenAIArgs.model_validate(engine.args)
        try:
            probe(args.url, args.connect_timeout_s)
        except LoadgenError as exc:
            raise AdapterError(f"url: {exc}") from None

    @property
    def url(self) -> str:
        return str(self.args.url)

    @property
    def metrics_url(self) -> str | None:
        if "metrics_url" in self.args.model_fields_set:
            return self.args.metrics_url or None
        return super().metrics_url

    def load(self) -> None:
        self.request_headers()  # an unset key fails the group now, naming its variable
        why = self.alive()
        if why:
            raise AdapterError(why)

    def alive(self) -> str | None:
        try:
            probe(self.url, self.args.connect_timeout_s)
        except LoadgenError as exc:
            return str(exc)
        return None

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "url": self.url, "served_model": self.served_model}
