"""``harness.loadgen.fakeserver`` launched for a group: a real local server with known token timing and faults."""

from __future__ import annotations

import os

from harness.adapters.launched import LaunchedArgs, LaunchedServer
from pydantic import Field, field_validator

from harness import source_root
from harness.hints import did_you_mean


class FakeServerArgs(LaunchedArgs):
    ttft_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    itl_ms: float | None = Field(default=None, ge=0, le=3_600_000)
    tokens_per_chunk: int | None = Field(default=None, ge=1, le=100_000)
    max_concurrency: int | None = Field(default=None, ge=0, le=100_000)
    die_after: int | None = Field(default=None, ge=0)
    fault: str | list[str] = []

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
    """harness.loadgen.fakeserver with ``args`` ttft_ms, itl_ms, tokens_per_chunk, max_concurrency, fault, die_after."""

    name = "fake-server"
    Args = FakeServerArgs
    devices = ("cpu",)  # the fake server computes nothing: a device would be a label that lies
    module = "httptools"
    install_hint = "pip install -e '.[serve]'"

    @classmethod
    def check_model(cls, name: str) -> None:
        """Any name: the fake server echoes it."""

    def server_command(self) -> list[str]:
        a = self.args
        cmd = [self.python, "-m", "harness.loadgen.fakeserver", "--port", str(self.port), "--model", self.served_model]
        for key in ("ttft_ms", "itl_ms", "tokens_per_chunk", "max_concurrency", "die_after"):
            if getattr(a, key) is not None:
                cmd += [f"--{key.replace('_', '-')}", str(getattr(a, key))]
        for fault in [a.fault] if isinstance(a.fault, str) else a.fault:
            cmd += ["--fault", str(fault)]
        return cmd

    def server_env(self) -> dict[str, str]:
        env = super().server_env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root(), env.get("PYTHONPATH")) if p)
        return env
