"""Servers the harness launches for an engine group on 127.0.0.1, and stops with their whole process tree.

A launcher picks a free port, starts the server with its output captured to a log file beside the worker's log
(or a new file of its own made with ``mkstemp``),
waits for ``GET /v1/models`` to answer 200 (``args.startup_timeout_s``, default 300 s; a server that exits meanwhile
fails the group with its log's last line), and on close stops the server's whole process tree (SIGTERM, then SIGKILL
after ``args.stop_timeout_s``): no orphan survives, even of servers that fork engine processes (vLLM). The server
dies with the worker even when the worker is killed with SIGKILL (``prctl(PR_SET_PDEATHSIG)``), and the worker stops
the server's whole tree when the harness is gone (``harness.lifeline``).
``args.server_args`` (a mapping) is appended as ``--key value`` flags; ``true`` gives a bare ``--key``; a value
``{env: NAME}`` is read from the environment when the server starts (``--api-key: {env: VLLM_API_KEY}``).
The server's output reaches its log through ``harness.redact`` (servers print their arguments, keys included), and
the command is logged and described with its keys redacted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import AdapterError, ServerAdapter, ServerArgs, Unsupported
from harness.adapters.credentials import CredentialError, env_names, resolve_flags
from harness.adapters.environment import cuda_problem, missing
from pydantic import BaseModel, Field

from harness.lifeline import die_with_parent, stop_tree
from harness.loadgen.http import http_get
from harness.plan.points import EngineConfig
from harness.redact import is_secret_name, pump_redacted, redact, remember


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flag_args(server_args: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in server_args.items():
        if value is False or value is None:
            continue
        out.append(f"--{key}")
        if value is not True:
            out.append(str(value))
    return out


def kill_tree(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM the process and every descendant, SIGKILL whatever is left after ``timeout_s``."""
    stop_tree(proc.pid, timeout_s)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def server_log_path(name: str, port: int) -> Path:
    """Beside the worker's log (``HARNESS_LOG_PATH``); otherwise a new file of our own in the temporary folder,
    created exclusively (never a predictable ``/tmp`` name another user could plant a symlink at)."""
    worker_log = os.environ.get("HARNESS_LOG_PATH")
    if worker_log:
        path = Path(worker_log).with_suffix(".server.log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    fd, name_ = tempfile.mkstemp(prefix=f"harness-{name}-{port}-", suffix=".server.log")
    os.close(fd)
    return Path(name_)


class LaunchedArgs(ServerArgs):
    """What every launched server takes besides the client settings."""

    startup_timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    stop_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    server_args: dict[str, Any] = Field(default_factory=dict, description="extra --key value flags")

    def env_names(self) -> list[tuple[str, str]]:
        return super().env_names() + env_names(self.server_args, "server_args")

    def model_post_init(self, context: Any, /) -> None:
        for key, value in self.server_args.items():
            if isinstance(value, str) and is_secret_name(key):
                remember(value)  # a literal key: passed to the server, never repeated in a log or an error


class LaunchedServer(ServerAdapter):
    """A server this harness starts and stops. Subclasses give the command and the module it needs."""

    Args: ClassVar[type[BaseModel]] = LaunchedArgs
    module: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.command: list[str] = []  # as logged and described: keys redacted
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def python(self) -> str:
        return self.engine.python or sys.executable

    @classmethod
    def check_environment(cls, engine: EngineConfig, python: str | None) -> str | None:
        """The CUDA device it is given (when on one; no module helps a machine without it), and the server's
        module importable by its interpreter."""
        if python is None:
            return None
        return cuda_problem(engine.device, engine.visible_gpus, python, needed=engine.device_count) or missing(
            (cls.module,), python, f"{cls.name} needs it: {cls.install_hint}"
        )

    def check_installed(self) -> None:
        why = self.check_environment(self.engine, self.python)
        if why:
            raise Unsupported(why)

    def server_command(self) -> list[str]:
        raise NotImplementedError

    def server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        return env

    def load(self) -> None:
        self.check_installed()
        self.port = free_port()
        try:
            flags = resolve_flags(dict(self.args.server_args), "server_args")
            self.request_headers()  # an unset key fails the group now, naming its variable
        except CredentialError as exc:
            raise AdapterError(str(exc)) from None
        command = self.server_command() + flag_args(flags)
        self.command = redact(command)
        self.log_path = server_log_path(self.name, self.port)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.command)}\n".encode())
        # In the worker's process group (a kill of the group takes the server's children too), and killed by the
        # kernel if the worker dies, even of SIGKILL (the worker's own watchdog stops the rest).
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.server_env(),
            preexec_fn=die_with_parent(),
        )
        self._pump = pump_redacted(self.proc.stdout, self.log_path)
        self.wait_ready(self.args.startup_timeout_s)

    def log_tail(self) -> str:
        if self.log_path is None:
            return ""
        try:
            lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self._drain()
                raise AdapterError(
                    f"{self.name} server exited (code {code}) before it was ready "
                    f"(log {self.log_path}): {self.log_tail()}"
                )
            try:
                status, _ = http_get(f"{self.url}/v1/models", timeout_s=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.close()
        raise AdapterError(
            f"{self.name} server not ready within startup_timeout_s={timeout_s:g} "
            f"(log {self.log_path}): {self.log_tail()}"
        )

    def _drain(self) -> None:
        """Wait briefly for the log pump to write what an exited server said last."""
        if self._pump is not None:
            self._pump.join(timeout=2)

    def alive(self) -> str | None:
        if self.proc is None:
            return "server not started"
        code = self.proc.poll()
        if code is not None:
            self._drain()
            return f"{self.name} server died (exit code {code}): {self.log_tail()}"
        return None

    def close(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc, self.args.stop_timeout_s)
            self.proc = None
            self._drain()

    def describe(self) -> dict[str, Any]:
        version = None
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(self.module.split(".")[0].replace("_", "-")) if not self.engine.python else None
        except Exception:  # noqa: BLE001 - a version is a nicety
            pass
        return {
            "adapter": self.name,
            "url": self.url,
            "served_model": self.served_model,
            "server_command": self.command,
            "server_log": str(self.log_path),
            "server_version": version,
            "server_pid": self.proc.pid if self.proc else None,
        }
