"""Host CPU and memory of the engine's process tree (psutil)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import psutil

from harness.measure.samplers.base import ThreadedSampler, Window
from harness.records import Timeline

TREE_REFRESH_NS = 1_000_000_000  # a server's workers start at load, long before a window; a second is soon enough


class PsutilSampler(ThreadedSampler):
    """Fields: ``rss_bytes`` (sum over the engine process and its children), ``cpu_pct`` (same tree, 100 = one
    core), ``system_cpu_pct`` (whole machine, 100 = all cores), ``system_mem_used_bytes``."""

    name: ClassVar[str] = "psutil"
    figures: ClassVar[tuple[str, ...]] = ("mem_peak_rss_bytes", "cpu_util_mean_pct")

    @classmethod
    def summarize(cls, timeline: Timeline, window: Window) -> tuple[dict[str, float | None], dict[str, Any]]:
        """Peak RSS and mean CPU of the engine's process tree over the whole timeline (the window and the sampler's
        last reading after it)."""
        rss = [v for v in timeline.values.get("rss_bytes", []) if v is not None]
        cpu = [v for v in timeline.values.get("cpu_pct", []) if v is not None]
        return {
            "mem_peak_rss_bytes": max(rss) if rss else None,
            "cpu_util_mean_pct": sum(cpu) / len(cpu) if cpu else None,
        }, {}

    def setup(self) -> None:
        self._root = psutil.Process(self.target_pid or os.getpid())
        self._procs: dict[int, psutil.Process] = {}
        self._members: list[psutil.Process] = []
        self._listed_ns = 0
        self._tree()  # prime cpu_percent: its first call per process returns 0.0
        psutil.cpu_percent(None)

    def _tree(self) -> list[psutil.Process]:
        """The engine's process tree, listed again at most every ``TREE_REFRESH_NS``: listing children reads every
        process on the machine from /proc, and doing that on every tick perturbs the engine it watches (the
        smoke suite's points read 5-8 % slower with a 50 ms sampler that did; benchmarks/sweep_overhead.py)."""
        now = self.clock.now_ns()
        if self._members and now - self._listed_ns < TREE_REFRESH_NS:
            if self._root.is_running():
                return self._members
            raise RuntimeError(f"engine process {self._root.pid} ended")
        try:
            current = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            raise RuntimeError(f"engine process {self._root.pid} ended") from None
        self._listed_ns = now
        alive = []
        for proc in current:
            known = self._procs.get(proc.pid)
            if known is None:
                known = self._procs[proc.pid] = proc
                try:
                    known.cpu_percent(None)
                except psutil.Error:
                    continue
            alive.append(known)
        self._members = alive
        return alive

    def read(self) -> dict[str, float | None]:
        rss = 0
        cpu = 0.0
        for proc in self._tree():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    cpu += proc.cpu_percent(None)
            except psutil.Error:  # a child that exited between listing and reading
                continue
        return {
            "rss_bytes": float(rss),
            "cpu_pct": cpu,
            "system_cpu_pct": psutil.cpu_percent(None),
            "system_mem_used_bytes": float(psutil.virtual_memory().used),
        }
