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
    prefill_us_per_token: float | None = None
    cache_block: int | None = None
    max_model_len: int | None = None
    kv_tokens: int | None = None
    prefix_cache: bool = True


class FakeServerLauncher(LaunchedServer):
    """harness.loadgen.fakeserver with ``args`` ttft_ms, itl_ms, tokens_per_chunk, max_concurrency, fault, die_after,
    prefill_us_per_token, prefix_cache, cache_block, max_model_len, kv_tokens."""

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
