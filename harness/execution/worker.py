"""The engine worker: a separate process that loads an engine and runs measurement windows on request.

It holds one engine at a time; after ``unload`` it may load the next group's engine (same interpreter and
environment), so consecutive groups pay for importing torch and transformers once (``harness.execution.warm``).

It speaks JSON lines on its original stdout (one reply per request) and reads requests from stdin, so the runner can
start it with any interpreter (another virtual environment with other engine pins) and kill it without losing
anything but the point in flight. Whatever the engine libraries print goes to stderr, which the runner logs.
Messages are the typed models of ``harness.execution.protocol``.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, TextIO

from harness.execution.protocol import (
    ErrorReply,
    ExitRequest,
    LoadReply,
    LoadRequest,
    UnloadReply,
    UnloadRequest,
    WindowReply,
    WindowRequest,
    decode_request,
    encode,
    mark_reply,
)


def one_line_error(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if "out of memory" in str(exc).lower() or isinstance(exc, MemoryError):
        return f"out of memory: {name}: {message}"[:500]
    return f"{name}: {message}"[:500]


def _adapter(name: str, ref: str | None, by_entry_point: Any) -> type:
    """The adapter class: by entry point where the harness is installed, else by the runner's ``module:Class``.

    In an engine environment (another interpreter) the harness is only on ``PYTHONPATH``, so its entry points are
    not registered there; the runner sends where the class lives instead.
    """
    from importlib import import_module

    from harness.plugins import available_adapters

    if name in available_adapters() or not ref:
        return by_entry_point(name)
    module, _, attr = ref.partition(":")
    return getattr(import_module(module), attr)


def _map_adapters_package() -> None:
    """Make ``harness.adapters`` importable from a source checkout that is not installed.

    The package lives in the top-level ``adapters/`` folder (pyproject maps it); an installed harness resolves it,
    a bare ``PYTHONPATH`` does not, so point the subpackage at the folder here.
    """
    import importlib.util
    from pathlib import Path

    import harness

    if "harness.adapters" in sys.modules or importlib.util.find_spec("harness.adapters") is not None:
        return
    folder = Path(harness.__file__).resolve().parent.parent / "adapters"
    spec = importlib.util.spec_from_file_location(
        "harness.adapters", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None or not folder.is_dir():
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness.adapters"] = module
    spec.loader.exec_module(module)
    harness.adapters = module  # type: ignore[attr-defined]


class Worker:
    def __init__(self) -> None:
        self.adapter: Any = None
        self.clock: Any = None

    def load(self, msg: LoadRequest) -> LoadReply:
        from harness.plugins import adapter_class
        from harness.records import RunClock

        if msg.log_path:
            _log_to(msg.log_path)
        self.unload()  # the runner unloads first; this only guards a model from staying behind the next one
        self.clock = RunClock(origin_ns=msg.clock_origin_ns)
        self.adapter = _adapter(msg.engine.adapter, msg.adapter_ref, adapter_class)(msg.engine)
        self.adapter.load()
        describe = self.adapter.describe()
        if msg.fidelity:
            from harness.measure.fidelity import fidelity

            describe["fidelity"] = fidelity(self.adapter)
        return LoadReply(describe=describe, pid=os.getpid())

    def unload(self) -> UnloadReply:
        """Close the engine and give its memory back, so the next model loads into a clean process."""
        adapter, self.adapter = self.adapter, None
        if adapter is not None:
            adapter.close()
            del adapter
            free_memory()
        return UnloadReply()

    def window(self, msg: WindowRequest) -> WindowReply | ErrorReply:
        from harness.scenarios.windows import run_window

        if self.adapter is None:
            return ErrorReply(error="window before load")
        result = run_window(self.adapter, msg.workload, msg.warmup, self.clock, msg.repetition)
        return WindowReply(records=result.records, memory=result.memory, figures=result.figures)


def free_memory() -> None:
    """Collect the closed engine's objects, empty torch's CUDA cache where CUDA is in use, and hand freed heap back
    to the OS (glibc keeps it otherwise, and the next group's peak RSS would include it)."""
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


def _log_to(path: str) -> None:
    """The group this worker serves next logs to ``path``: the runner's log pump switches files (what this process
    writes goes through it, redacted); servers it launches log beside it (``HARNESS_LOG_PATH``)."""
    sys.stderr.flush()
    os.environ["HARNESS_LOG_PATH"] = path


def answer(worker: Worker, line: str) -> LoadReply | UnloadReply | WindowReply | ErrorReply | None:
    """The reply to one request line; None for ``exit``."""
    from pydantic import ValidationError

    from harness.adapters.base import Unsupported

    try:
        msg = decode_request(line)
    except ValidationError as exc:
        return ErrorReply(error=f"protocol error: {one_line_error(exc)}")
    if isinstance(msg, ExitRequest):
        return None
    try:
        if isinstance(msg, UnloadRequest):
            return worker.unload()
        return worker.load(msg) if isinstance(msg, LoadRequest) else worker.window(msg)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes the point's one-line error
        if isinstance(exc, Unsupported):  # not a failure: this combination cannot run here
            return ErrorReply(error=str(exc), skip=True)
        traceback.print_exc(file=sys.stderr)
        return ErrorReply(error=one_line_error(exc))


def serve(requests: TextIO, replies: TextIO) -> None:
    worker = Worker()
    for line in requests:
        reply = answer(worker, line)
        if reply is None:
            break
        mark_reply()
        replies.write(encode(reply).decode())
        replies.flush()
    if worker.adapter is not None:
        worker.adapter.close()


def _guard() -> None:
    """Die with the harness and take every child along: when the runner is gone (even killed with SIGKILL) or
    this worker gets SIGTERM. The runner names itself in ``HARNESS_WORKER_PARENT`` (it may be gone already)."""
    import signal

    from harness.lifeline import become_subreaper, exit_with_children, watch_parent

    become_subreaper()  # a server's forks whose parent died stay ours to stop
    signal.signal(signal.SIGTERM, lambda signum, _frame: exit_with_children(128 + signum))
    parent = os.environ.get("HARNESS_WORKER_PARENT")
    watch_parent(lambda: exit_with_children(1), parent_pid=int(parent) if parent else os.getppid())


def main() -> None:
    from harness.execution.ranks import SOCKET_ENV

    _guard()
    _map_adapters_package()
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # engines that print must not corrupt the protocol
    sys.stdout = sys.stderr
    ranked = bool(os.environ.get(SOCKET_ENV))
    try:
        if ranked:  # one of torchrun's ranks: the protocol goes over rank 0's socket
            from harness.execution.rank_worker import serve_ranks

            serve_ranks(os.environ[SOCKET_ENV])
        else:
            serve(sys.stdin, replies)
    finally:
        from harness.lifeline import stop_descendants

        stop_descendants()  # whatever the adapter's close left running (a dead server's adopted children)
    if not ranked:  # a rank leaves through torch.distributed's own teardown, which torchrun watches
        _exit_now(replies)


def _exit_now(replies: TextIO) -> None:
    """Leave without the interpreter's teardown: every reply is sent and the engine is closed, and finalising
    torch's modules costs about a second that the runner would wait for (benchmarks/sweep_overhead.py)."""
    import logging

    logging.shutdown()
    for stream in (replies, sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # closed by an engine, or its reader is gone: nothing left to say
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
