"""Child processes that die with the harness, even when the harness is killed with SIGKILL.

Three tools, for the chain harness CLI → engine worker → launched server → the server's own children:

- ``die_with_parent()``: a ``preexec_fn`` for ``subprocess`` that asks Linux to SIGKILL the child when its parent
  dies (``prctl(PR_SET_PDEATHSIG)``). The kernel ties that signal to the *thread* that started the child, so it is
  only set from the main thread (which lives as long as the process); from any other thread it returns ``None``
  and the caller relies on its process group and on ``watch_parent`` instead.
- ``watch_parent(on_gone)``: a daemon thread that notices when this process's parent is gone (it is re-parented)
  and calls ``on_gone``: a watchdog that works on any thread and any POSIX system.
- ``become_subreaper()`` and ``stop_tree()``: orphans of a child (a server's forks whose parent died) are
  re-parented to this process instead of init, so stopping "every descendant" still finds them; ``stop_tree``
  sends SIGTERM to a process tree, then SIGKILL to whatever is left (children forked meanwhile included).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _load_prctl() -> Any:
    """libc's ``prctl``, resolved once in the parent: a ``preexec_fn`` must not load libraries after ``fork``."""
    if not os.uname().sysname == "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when this process dies; ``None`` where it cannot."""
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    prctl = _PRCTL

    def preexec() -> None:
        _tie(prctl, sig, parent)

    return preexec


def _tie(prctl: Any, sig: int, parent: int) -> None:
    prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl: nobody will send the signal
        os.kill(os.getpid(), sig)


def die_with_own_parent(sig: int = signal.SIGKILL) -> None:
    """This process receives ``sig`` when its parent dies (for a process another launcher started, e.g. a
    torchrun rank, where no ``preexec_fn`` of ours ran); a no-op where prctl is missing."""
    if _PRCTL is not None:
        _tie(_PRCTL, sig, os.getppid())


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux); False where the system has no such thing."""
    return _PRCTL is not None and _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _parent_pid() -> int:
    """The parent this process started with: a ``multiprocessing`` child knows it even if it is already gone."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid is not None else os.getppid()


def watch_parent(
    on_gone: Callable[[], None] | None = None, parent_pid: int | None = None, interval_s: float = 0.2
) -> threading.Thread:
    """Call ``on_gone`` (default: exit at once) from a daemon thread as soon as the parent process is gone."""
    parent = parent_pid if parent_pid is not None else _parent_pid()

    def gone() -> None:
        os._exit(1)

    # A torchrun rank is the runner's grandchild: its parent is torchrun, so it watches the runner by pid.
    direct = os.getppid() == parent

    def alive() -> bool:
        return os.getppid() == parent if direct else _pid_exists(parent)

    def watch() -> None:
        while alive():
            time.sleep(interval_s)
        (on_gone or gone)()

    thread = threading.Thread(target=watch, name="harness-parent-watch", daemon=True)
    thread.start()
    return thread


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_all(procs: list[Any], sig: int) -> None:
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.send_signal(sig)


def stop_tree(pid: int, timeout_s: float = 10.0, include_root: bool = True) -> None:
    """SIGTERM ``pid`` (unless ``include_root`` is False) and every descendant; SIGKILL what is left after
    ``timeout_s``, including children forked during the shutdown."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)] if include_root else root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    _signal_all(family, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=timeout_s)
    for p in list(alive):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            alive += [c for c in p.children(recursive=True) if c not in alive]
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        alive += [c for c in root.children(recursive=True) if c not in alive]  # adopted meanwhile (subreaper)
    _signal_all(alive, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)


def stop_descendants(timeout_s: float = 5.0) -> None:
    """Stop every descendant of this process (needs psutil; an engine environment may lack it)."""
    with contextlib.suppress(ImportError):
        stop_tree(os.getpid(), timeout_s, include_root=False)


def exit_with_children(code: int, timeout_s: float = 5.0) -> NoReturn:
    """Stop every descendant, then exit with ``code`` at once (from a signal handler or a watchdog thread)."""
    try:
        stop_tree(os.getpid(), timeout_s, include_root=False)
    except ImportError:  # no psutil here: SIGKILL our own process group instead (this process included)
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(code)
