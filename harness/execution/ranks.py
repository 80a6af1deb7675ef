"""Workers of more than one process: an engine split over ranks (``tensor_parallel`` on the hf engine).

torchrun starts the ranks; rank 0 speaks the worker protocol to the runner over a Unix socket (torchrun's ranks do
not get the launcher's stdin, and their stdout is the log), the other ranks receive every request from rank 0 over a
gloo group and run it too, so all ranks step the model together. Teardown: the runner kills torchrun's process
group and every rank by the pids rank 0 reported; each rank also dies with its parent (``PR_SET_PDEATHSIG``), so a
torchrun killed with -9 leaves no rank behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator

from harness.plan.points import EngineConfig

SOCKET_ENV = "HARNESS_WORKER_SOCKET"


def worker_ranks(engine: EngineConfig) -> int:
    """Processes one worker of ``engine`` needs: vLLM and llama.cpp launch their own ranks, hf needs torchrun's."""
    return engine.tensor_parallel if engine.adapter == "hf" else 1


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

    def lines(self, alive: Callable[[], bool]) -> Iterator[bytes]:
        """Rank 0's reply lines, once it connects; ends when it closes or the launcher dies before connecting."""
        while self._conn is None:
            if not alive():
                return
            try:
                self._conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
        self._connected.set()
        yield from self._conn.makefile("rb")

    def send(self, data: bytes, timeout_s: float) -> None:
        """Send one request; ``TimeoutError`` if rank 0 has not connected in time, ``OSError`` if it is gone."""
        if not self._connected.wait(max(timeout_s, 0.001)):
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


def die_with_parent() -> None:
    """This rank gets SIGKILL when torchrun (its parent) dies, however it dies (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
