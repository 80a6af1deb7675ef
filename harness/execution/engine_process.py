"""The runner's side of an engine worker (``harness.execution.worker``): start, ask, time out, kill.

The worker runs in its own session (process group), so a kill of the group takes a server it launched and that
server's children too; the worker watches this process and stops its tree as soon as it is gone (even after a
SIGKILL of the harness), see ``harness.execution.worker``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness import source_root
from harness.execution.protocol import (
    REPLY_BOUNDARY,
    ErrorReply,
    ExitRequest,
    LoadReply,
    UnloadReply,
    WindowReply,
    decode_reply,
    encode,
)
from harness.execution.ranks import SOCKET_ENV, RankChannel, kill_ranks, torchrun_command, worker_ranks
from harness.plan.points import EngineConfig
from harness.redact import RedactedLog


class WorkerFailure(Exception):
    """The worker timed out, crashed or answered with an error; the message is one line for the point's record."""


class WorkerSkip(WorkerFailure):
    """The engine cannot run this combination here; the point is stored as skipped with the reason."""


class WorkerTimeout(WorkerFailure):
    """No reply within the time allowed; the worker was killed."""


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 or value == int(value) else f"{value:.1f}s"


def timeout_message(left_s: float, limit_s: float | None, limit_name: str) -> str:
    """What ran out: the whole limit, or the rest of it that was left for this request (both, truthfully)."""
    if limit_s is None or left_s >= limit_s - 0.05:
        return f"timed out after {_seconds(limit_s if limit_s is not None else left_s)} ({limit_name})"
    return (
        f"timed out: {limit_name} {_seconds(limit_s)} ran out "
        f"(this step had the last {_seconds(max(left_s, 0.0))} of it)"
    )


def _signal_name(returncode: int) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (killed: likely out of memory)" if -returncode == signal.SIGKILL else ""
    return f"{name}{hint}"


def worker_python(engine: EngineConfig, log: Any = None) -> str:
    """The interpreter for this engine's worker: the suite's ``python``, its built ``env``, or the harness's own.

    Raises ``WorkerFailure`` when the environment cannot be built (the point fails with pip's reason).
    """
    if engine.env is not None:
        from harness.execution.envs import EnvBuildError, ensure_env

        try:
            return str(ensure_env(engine.env.requirements, engine.env.uninstall, engine.env.python, log=log))
        except EnvBuildError as exc:
            raise WorkerFailure(f"engine environment: {exc}") from None
    return engine.python or sys.executable


def worker_env(engine: EngineConfig, python: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        }
    )  # CUDA numbers GPUs as NVML does
    if engine.visible_gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = engine.visible_gpus
    if engine.threads:
        env["OMP_NUM_THREADS"] = str(engine.threads)
    # A worker in another environment still needs this harness importable.
    if engine.python or engine.env or (python and python != sys.executable):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root(), env.get("PYTHONPATH")) if p)
    return env


WORKER_MODULE = "harness.execution.worker"


class EngineProcess:
    def __init__(self, engine: EngineConfig, log_path: Path, python: str | None = None) -> None:
        self.engine = engine
        python = python or engine.python or sys.executable
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**worker_env(engine, python), "HARNESS_LOG_PATH": str(log_path)}  # launched servers log beside it
        ranks = worker_ranks(engine)
        self._channel = RankChannel() if ranks > 1 else None
        self.rank_pids: list[int] = []
        if self._channel is not None:
            env[SOCKET_ENV] = self._channel.path
        self.proc = subprocess.Popen(
            torchrun_command(python, ranks, WORKER_MODULE) if ranks > 1 else [python, "-m", WORKER_MODULE],
            stdin=subprocess.PIPE if ranks == 1 else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if ranks == 1 else subprocess.STDOUT,
            env={
                **env,
                "HARNESS_WORKER_PARENT": str(os.getpid()),  # the worker stops its tree when this process is gone
            },
            start_new_session=True,  # its own process group: a kill takes its children too
        )
        # the log is written through harness.redact: a traceback quoting an engine's arguments leaks no key
        # (a resumed run appends to the group's log of an earlier session: the pump starts at its end)
        self._pump = RedactedLog(self.proc.stderr if ranks == 1 else self.proc.stdout, log_path, REPLY_BOUNDARY)
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def follow_log(self, log_path: Path) -> None:
        """The worker serves another group, which logs to ``log_path`` (its ``LoadRequest`` names the file): its
        failures are told by the tail of that log."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._pump.switch(log_path)

    def _read(self) -> None:
        if self._channel is not None:
            lines = self._channel.lines(lambda: self.proc.poll() is None)
        else:
            assert self.proc.stdout is not None
            lines = iter(self.proc.stdout)
        for line in lines:
            self._replies.put(line.decode())
        self._replies.put(None)

    def _send(self, data: bytes, timeout_s: float) -> None:
        if self._channel is not None:
            try:
                self._channel.send(data, timeout_s)
            except TimeoutError:
                self.kill()
                raise WorkerFailure(
                    f"timed out after {timeout_s:.0f}s (point timeout_s) waiting for the ranks to start"
                ) from None
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _log_tail(self) -> str:
        """The last line the worker logged since its previous reply (never an earlier point's or session's)."""
        try:
            with open(self._pump.path, "rb") as log:
                log.seek(self._pump.offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        # torchrun closes a failed launch with its own summary in rules of '='; the rank's own last words come first
        lines = [ln for ln in text.splitlines() if any(ch.isalnum() for ch in ln)]
        ranks = [ln for ln in lines if ln.startswith("[rank")]
        return (ranks or lines)[-1].strip()[:300] if lines else ""

    def request(
        self, msg: BaseModel, timeout_s: float, limit_s: float | None = None, limit_name: str = "timeout_s"
    ) -> LoadReply | UnloadReply | WindowReply:
        """Send one request and wait ``timeout_s`` for its reply; ``WorkerFailure`` (or ``WorkerSkip``) for anything
        else. ``limit_s`` is the budget ``timeout_s`` is what is left of (the point's ``timeout_s``), for the
        message."""
        try:
            self._send(encode(msg), timeout_s)
        except (BrokenPipeError, OSError):
            raise WorkerFailure(self._death_message()) from None
        try:
            line = self._replies.get(timeout=max(timeout_s, 0.001))
        except queue.Empty:
            self.kill()
            raise WorkerTimeout(timeout_message(timeout_s, limit_s, limit_name)) from None
        if line is None:
            raise WorkerFailure(self._death_message())
        try:
            reply = decode_reply(line)
        except ValidationError as exc:
            raise WorkerFailure(f"engine worker broke the protocol: {str(exc).splitlines()[0]}") from None
        if isinstance(reply, ErrorReply):
            raise (WorkerSkip if reply.skip else WorkerFailure)(reply.error)
        if isinstance(reply, LoadReply):
            self.rank_pids = reply.rank_pids
        return reply

    def _death_message(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "engine worker stopped answering"
        cause = _signal_name(code) if code < 0 else f"exit code {code}"
        self._pump.join(timeout=2)  # its last words reach the log (children holding the pipe may keep it open)
        tail = self._log_tail()
        return f"engine worker died ({cause})" + (f": {tail}" if tail else "")

    def kill(self) -> None:
        """SIGKILL the worker's process group, also when the worker itself is already dead: a server it launched
        (and that server's children) may still be running in it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        kill_ranks(self.rank_pids)  # torchrun puts each rank in its own session, out of the group's reach
        if self._channel is not None:
            self._channel.close()
        self._pump.join(timeout=2)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send(encode(ExitRequest()), 5)
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired, WorkerFailure):
                pass
        self.kill()
