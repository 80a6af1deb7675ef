"""The sampler interface: ``available()``, ``start()``, ``stop() -> Timeline``; readings at a fixed rate, run clock."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from harness.records import RunClock, Timeline


class Sampler(ABC):
    name: ClassVar[str]

    def __init__(self, clock: RunClock, interval_ms: float = 100.0, target_pid: int | None = None, **options: Any):
        self.clock = clock
        self.interval_ns = int(interval_ms * 1e6)
        self.target_pid = target_pid
        self.options = options

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this machine can provide the source, and why not."""
        return True, ""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> Timeline: ...


class ThreadedSampler(Sampler):
    """Calls ``read()`` on a daemon thread at a fixed rate.

    Ticks are scheduled at ``t0 + k × interval`` rather than ``sleep(interval)`` after each read, so a slow read
    does not stretch the timeline; a tick that is already late is skipped rather than bunched.
    """

    def __init__(self, clock: RunClock, interval_ms: float = 100.0, target_pid: int | None = None, **options: Any):
        super().__init__(clock, interval_ms, target_pid, **options)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timeline = Timeline(sampler=self.name)

    @abstractmethod
    def read(self) -> dict[str, float | None]:
        """One reading of every field; a field this source cannot give is reported once through ``mark_missing``."""

    def setup(self) -> None:
        """Open handles before the first tick (outside the timed loop)."""

    def teardown(self) -> None:
        """Close handles after the last tick."""

    def mark_missing(self, field: str, reason: str) -> None:
        self._timeline.missing.setdefault(field, reason)

    def _record(self) -> None:
        t = self.clock.now_ns()
        values = self.read()
        self._timeline.t_ns.append(t)
        n = len(self._timeline.t_ns)
        for field, value in values.items():
            column = self._timeline.values.setdefault(field, [None] * (n - 1))
            column.append(value)
        for column in self._timeline.values.values():  # a field absent this tick stays aligned
            if len(column) < n:
                column.append(None)

    def _loop(self) -> None:
        next_tick = self.clock.now_ns()
        while not self._stop.is_set():
            try:
                self._record()
            except Exception as exc:  # the source went away (process ended, GPU lost): stop, keep what we have
                self._timeline.error = f"{type(exc).__name__}: {exc}"
                return
            next_tick += self.interval_ns
            now = self.clock.now_ns()
            if next_tick < now:
                next_tick = now + self.interval_ns - (now - next_tick) % self.interval_ns
            self._stop.wait((next_tick - now) / 1e9)

    def start(self) -> None:
        self.setup()
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> Timeline:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._timeline.error is None:
            try:  # one final reading so the timeline covers the window's end
                self._record()
            except Exception as exc:
                self._timeline.error = f"{type(exc).__name__}: {exc}"
        self.teardown()
        return self._timeline
