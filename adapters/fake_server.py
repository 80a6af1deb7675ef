"""``harness.loadgen.fakeserver`` launched for a group: a real local server with known token timing and faults."""

from __future__ import annotations

import os

from harness.adapters.launched import LaunchedArgs, LaunchedServer

from harness import source_root


class FakeServerArgs(LaunchedArgs):
    ttft_ms: float | None = None
    itl_ms: float | None = None
    tokens_per_chunk: int | None = None
    max_concurrency: int | None = None
    die_after: int | None = None
    fault: str | list[str] = []


class FakeServerLauncher(LaunchedServer):
    """harness.loadgen.fakeserver with ``args`` ttft_ms, itl_ms, tokens_per_chunk, max_concurrency, fault, die_after."""

    name = "fake-server"
    Args = FakeServerArgs
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
