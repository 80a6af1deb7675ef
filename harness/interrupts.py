"""SIGINT and SIGTERM as one clean stop: a ``Stopped`` exception the runner turns into an interrupted run.

CI cancels a job with SIGTERM, a person with Ctrl-C (SIGINT); both stop the worker tree and any launched server,
mark the run ``interrupted``, keep every stored point and exit ``128 + signal`` (130 for SIGINT, 143 for SIGTERM).

- ``install_early()`` runs before the CLI's heavy imports: a signal then exits at once, quietly (nothing started).
- ``install()`` replaces it once the command runs: the first signal raises ``Stopped`` in the main thread, where
  the runner catches it; a second one while stopping exits at once (nothing is lost: every point is written in
  one transaction, and children die with the harness, see ``harness.lifeline``).
- ``deferred()`` holds a signal back while a point is being written, and raises it right after.

``Stopped`` derives from ``BaseException`` but not from ``KeyboardInterrupt``: click turns a
``KeyboardInterrupt`` into "Aborted!" and exit 1, and nothing that catches ``Exception`` may swallow it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

# SIGHUP (the terminal went away) stops a run like SIGTERM; SIGINT and SIGHUP stay ignored where the shell made
# them so (``nohup``, a background job), as the shell convention has it.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_RESPECT_IGNORED = (signal.SIGINT, signal.SIGHUP)


class Stopped(BaseException):
    """The process was asked to stop by ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class _State:
    stopping: int | None = None  # the signal being handled
    deferring: int = 0  # depth of ``deferred()`` blocks
    pending: int | None = None  # a signal that arrived inside one


_state = _State()


def _early(signum: int, _frame: FrameType | None) -> None:
    os.write(2, f"harness: stopped by {signal_name(signum)} before starting\n".encode())
    os._exit(exit_code(signum))


def _handle(handler: signal.Handlers | object) -> None:
    for sig in SIGNALS:
        if sig in _RESPECT_IGNORED and signal.getsignal(sig) == signal.SIG_IGN:
            continue
        signal.signal(sig, handler)  # type: ignore[arg-type]


def install_early() -> None:
    """Exit quietly with ``128 + signal`` on SIGINT/SIGTERM until ``install()`` (no traceback mid-import)."""
    _handle(_early)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _state.stopping is not None:  # asked again while stopping: go now
        os.write(2, f"harness: {signal_name(signum)} again, exiting now\n".encode())
        os._exit(exit_code(_state.stopping))
    if _state.deferring:
        _state.pending = signum
        return
    _state.stopping = signum
    raise Stopped(signum)


def install() -> None:
    """Turn SIGINT and SIGTERM into ``Stopped`` in the main thread (call it from the main thread)."""
    _state.stopping = _state.pending = None
    _state.deferring = 0
    _handle(_on_signal)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back during the block (a point's write) and raise ``Stopped`` after it."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
        if not _state.deferring and _state.pending is not None and _state.stopping is None:
            signum, _state.pending = _state.pending, None
            _state.stopping = signum
            raise Stopped(signum)


def stop_requested(exc: BaseException) -> int | None:
    """The signal behind ``exc`` (``Stopped`` or a plain ``KeyboardInterrupt``), else None."""
    if isinstance(exc, Stopped):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    return None
