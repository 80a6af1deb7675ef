"""A warm worker kept between engine groups: consecutive groups that share an environment use one process.

Starting a worker costs seconds before the first point (a fresh interpreter imports torch and transformers), and
a sweep over dtypes or models pays it once per group. A group that ends cleanly unloads its engine and hands its
worker over here; the next group takes it when its environment is the same (``worker_key``), else it is closed and
the next group starts a fresh one. A group with a failed point or a failed load never hands its worker over, so a
crash, a timeout or an out-of-memory error still costs one point and the next group starts clean.

Only adapters whose ``EngineAdapter.reuse_worker`` says so are reused, and only single-process workers: an engine
that keeps process-wide state (a distributed group, a server it launched) gets a fresh worker per group.
"""

from __future__ import annotations

from collections.abc import Hashable

from harness.execution.engine_process import EngineProcess, worker_env
from harness.execution.ranks import worker_ranks
from harness.plan.points import EngineConfig

WorkerKey = tuple[Hashable, ...]


def worker_key(engine: EngineConfig, python: str) -> WorkerKey | None:
    """What two groups must share to run in one worker: the interpreter, the whole environment the worker starts
    with (visible devices, thread counts, ``PYTHONPATH``), one rank; None where the adapter is not reusable."""
    from harness.plugins import adapter_class

    if not adapter_class(engine.adapter).reuse_worker(engine) or worker_ranks(engine) != 1:
        return None
    return (python, tuple(sorted(worker_env(engine, python).items())))


class WarmWorkers:
    """Holds at most one idle worker (its engine unloaded) between groups; the executor that owns it closes it."""

    def __init__(self) -> None:
        self._key: WorkerKey | None = None
        self._worker: EngineProcess | None = None
        self.started = 0  # workers started by sessions using this keeper
        self.reused = 0  # groups that ran in a worker an earlier group handed over

    def take(self, key: WorkerKey | None) -> EngineProcess | None:
        """The idle worker if it matches ``key`` (and is alive); any other idle worker is closed."""
        worker, held, self._worker, self._key = self._worker, self._key, None, None
        if worker is None:
            return None
        if key is not None and held == key and worker.proc.poll() is None:
            self.reused += 1
            return worker
        worker.close()
        return None

    def give(self, key: WorkerKey, worker: EngineProcess) -> None:
        self.close()
        self._key, self._worker = key, worker

    def close(self) -> None:
        worker, self._worker, self._key = self._worker, None, None
        if worker is not None:
            worker.close()

    def kill(self) -> None:
        worker, self._worker, self._key = self._worker, None, None
        if worker is not None:
            worker.kill()
