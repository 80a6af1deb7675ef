"""The psutil sampler: the engine's whole process tree, listed at most once a second (listing reads all of /proc)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from harness.measure.samplers import psutil_sampler
from harness.measure.samplers.psutil_sampler import PsutilSampler
from harness.records import RunClock


class CountingProcess(psutil.Process):
    listings = 0

    def children(self, recursive: bool = False) -> list[psutil.Process]:
        CountingProcess.listings += 1
        return super().children(recursive=recursive)


@pytest.fixture
def child():
    """A process with a child of its own: the tree the sampler must add up."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', 'input()'])"],
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(500):  # bounded: the grandchild starts within a second or two
            if psutil.Process(proc.pid).children():
                break
            time.sleep(0.02)
        yield proc
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        proc.wait()


def sampler_on(pid: int, monkeypatch: pytest.MonkeyPatch) -> PsutilSampler:
    monkeypatch.setattr(psutil_sampler.psutil, "Process", CountingProcess)
    CountingProcess.listings = 0
    sampler = PsutilSampler(RunClock(), interval_ms=50, target_pid=pid)
    sampler.setup()
    return sampler


def test_the_tree_is_listed_once_per_refresh_not_per_tick(child, monkeypatch):
    sampler = sampler_on(child.pid, monkeypatch)
    readings = [sampler.read() for _ in range(20)]
    assert CountingProcess.listings == 1  # setup's listing serves every tick within the second
    parent_rss = psutil.Process(child.pid).memory_info().rss
    assert all(r["rss_bytes"] > parent_rss for r in readings)  # the child is counted too


def test_a_refresh_lists_the_tree_again(child, monkeypatch):
    monkeypatch.setattr(psutil_sampler, "TREE_REFRESH_NS", 0)
    sampler = sampler_on(child.pid, monkeypatch)
    for _ in range(3):
        sampler.read()
    assert CountingProcess.listings == 4


def test_an_ended_engine_stops_the_sampler_between_listings(monkeypatch):
    proc = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE)
    sampler = sampler_on(proc.pid, monkeypatch)
    sampler.read()
    proc.kill()
    proc.wait()
    with pytest.raises(RuntimeError, match="ended"):
        sampler.read()
