"""``harness.loadgen.fakeserver`` launched for a group: a real local server with known token timing and faults."""

from __future__ import annotations

import os

from harness.adapters.launched import LaunchedArgs, LaunchedServer
from pydantic import Field, field_validator

from harness import source_root
from harness.hints import did_you_mean
from harness.hints import install_hint as hint_for


class FakeServerArgs(LaunchedArgs):
    ttft_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    itl_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    tokens_per_chunk: int | None = Field(default=None, ge=1, le=100_000)
    max_concurrency: int | None = Field(default=None, ge=0, le=100_000)
    die_after: int | None = Field(default=None, ge=0)
    fault: str | list[str] = []
    prefill_us_per_token: float | None = None
    cache_block: int | None = None
    max_model_len: int | None = None
    kv_tokens: int | None = None
    prefix_cache: bool = True

    @field_validator("fault")
    @classmethod
    def _known_faults(cls, value: str | list[str]) -> str | list[str]:
        try:  # the fake server's package needs httptools; without it the engine is skipped anyway
            from harness.loadgen.fakeserver.config import FAULTS
        except ImportError:
            return value
        for fault in [value] if isinstance(value, str) else value:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}{did_you_mean(fault, FAULTS)}; known: {', '.join(FAULTS)}")
        return value


class FakeServerLauncher(LaunchedServer):
    """harness.loadgen.fakeserver with ``args`` ttft_ms, itl_ms, tokens_per_chunk, max_concurrency, fault, die_after,
    prefill_us_per_token, prefix_cache, cache_block, max_model_len, kv_tokens."""

    name = "fake-server"
    Args = FakeServerArgs
    devices = ("cpu",)  # the fake server computes nothing: a device would be a label that lies
    module = "httptools"
    install_hint = hint_for("httptools")

    @classmethod
    def check_model(cls, name: str) -> None:
        """Any name: the fake server echoes it."""

    def server_command(self) -> list[str]:
        a = self.args
        cmd = [self.python, "-m", "harness.loadgen.fakeserver", "--port", str(self.port), "--model", self.served_model]
        keys = ("ttft_ms", "itl_ms", "tokens_per_chunk", "max_concurrency", "die_after", "prefill_us_per_token")
        for key in (*keys, "cache_block", "max_model_len", "kv_tokens"):
            if getattr(a, key) is not None:
                cmd += [f"--{key.replace('_', '-')}", str(getattr(a, key))]
        if not a.prefix_cache:
            cmd.append("--no-prefix-cache")
        for fault in [a.fault] if isinstance(a.fault, str) else a.fault:
            cmd += ["--fault", str(fault)]
        return cmd

    def server_env(self) -> dict[str, str]:
        env = super().server_env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root(), env.get("PYTHONPATH")) if p)
        return env
