"""Workers of more than one process: an engine split over ranks (``tensor_parallel`` on the hf engine).

torchrun starts the ranks; rank 0 speaks the worker protocol to the runner over a Unix socket (torchrun's ranks do
not get the launcher's stdin, and their stdout is the log), the other ranks receive every request from rank 0 over a
gloo group and run it too, so all ranks step the model together. Teardown: the runner kills torchrun's process
group and every rank by the pids rank 0 reported; each rank also dies with its parent
(``harness.lifeline.die_with_own_parent``), so a torchrun killed with -9 leaves no rank behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from harness.plan.points import EngineConfig

SOCKET_ENV = "HARNESS_WORKER_SOCKET"


def worker_ranks(engine: EngineConfig) -> int:
    """Processes one worker of ``engine`` needs, as its adapter says (``EngineAdapter.worker_ranks``)."""
    from harness.plugins import adapter_class

    return int(adapter_class(engine.adapter).worker_ranks(engine))


def torchrun_command(python: str, ranks: int, module: str) -> list[str]:
    """One node, ``ranks`` processes, a free rendezvous port, no restarts (a dead rank fails the point)."""
    return [
        python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        f"--nproc-per-node={ranks}",
        "--max-restarts=0",
        "-m",
        module,
    ]


class RankChannel:
    """The runner's end of rank 0's socket: listen now, accept when rank 0 connects (after torch imports)."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="harness-ranks-")
        self.path = os.path.join(self._dir, "rank0.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        self._listener.settimeout(0.5)
        self._conn: socket.socket | None = None
        self._connected = threading.Event()
        self._gone = threading.Event()  # the launcher died before rank 0 connected

    def lines(self, alive: Callable[[], bool]) -> Iterator[bytes]:
        """Rank 0's reply lines, once it connects; ends when it closes or the launcher dies before connecting."""
        while self._conn is None:
            if not alive():
                self._gone.set()
                return
            try:
                self._conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                self._gone.set()
                return
        self._connected.set()
        yield from self._conn.makefile("rb")

    def send(self, data: bytes, timeout_s: float) -> None:
        """Send one request; ``TimeoutError`` if rank 0 has not connected in time, ``OSError`` if it is gone
        (also when the ranks died before connecting: no waiting out the timeout for a dead launcher)."""
        deadline = time.monotonic() + max(timeout_s, 0.001)
        while not self._connected.wait(0.1):
            if self._gone.is_set():
                raise BrokenPipeError("the ranks exited before rank 0 connected")
            if time.monotonic() >= deadline:
                raise TimeoutError("rank 0 did not connect")
        assert self._conn is not None
        self._conn.sendall(data)

    def close(self) -> None:
        for sock in (self._conn, self._listener):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        shutil.rmtree(self._dir, ignore_errors=True)


def kill_ranks(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
