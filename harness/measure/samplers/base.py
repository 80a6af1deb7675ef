"""The sampler interface: ``available()``, ``start()``, ``stop() -> Timeline``; readings at a fixed rate, run clock.

Each sampler also says, as class methods, what its timelines mean, so the runner needs no sampler's name:
``summarize`` turns a timeline into the window's figures (declared in ``figures``, named in the metric catalogue),
``energy_sources`` gives the devices whose energy it measured, and ``idle_power`` marks the samplers read for idle
power before a point. Adding a sampler is one module here plus one line in ``harness.measure.samplers.SAMPLERS``
(or an entry point in the ``harness.samplers`` group for a third-party package).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.measure.counters import EnergySource
from harness.records import RunClock, Timeline

Window = tuple[int, int] | None  # the measurement window's [start, end] on the run clock, when known


@dataclass(frozen=True)
class SamplerContext:
    """What the runner knows of the point a sampler watches; each sampler takes the parts it needs."""

    clock: RunClock
    target_pid: int | None = None
    visible_gpus: str | None = None
    country_iso_code: str = "USA"


class Sampler(ABC):
    name: ClassVar[str]
    #: metric names ``summarize`` may produce (every one declared in the metric catalogue)
    figures: ClassVar[tuple[str, ...]] = ()
    #: read before each point, with the model loaded and idle, for net energy
    idle_power: ClassVar[bool] = False
    #: ``SamplerContext`` fields passed to the constructor as keywords (e.g. ``visible_gpus``)
    context_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, clock: RunClock, interval_ms: float = 100.0, target_pid: int | None = None, **options: Any):
        self.clock = clock
        self.interval_ns = int(interval_ms * 1e6)
        self.target_pid = target_pid
        self.options = options

    @classmethod
    def for_point(cls, context: SamplerContext, interval_ms: float, options: dict[str, Any]) -> Sampler:
        """A sampler for one point: the clock, the engine's process, and the ``context_fields`` it asks for."""
        taken = {name: getattr(context, name) for name in cls.context_fields}
        return cls(context.clock, interval_ms=interval_ms, target_pid=context.target_pid, **{**taken, **options})

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this machine can provide the source, and why not."""
        return True, ""

    @classmethod
    def summarize(cls, timeline: Timeline, window: Window) -> tuple[dict[str, float | None], dict[str, Any]]:
        """The window's figures from this sampler's timeline, and facts about how they were measured."""
        return {}, {}

    @classmethod
    def energy_sources(cls, timeline: Timeline) -> dict[str, EnergySource]:
        """Per device (``gpu0``, ``package0``…) its energy over any interval, and how it is measured."""
        return {}

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
