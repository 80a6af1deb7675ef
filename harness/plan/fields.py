"""The kinds of value a suite holds, each checked where it is read: names, text, devices, paths, and numbers with
their ranges.

Numbers are strict: ``true`` is not 1 and ``"4"`` is not 4 (YAML would coerce both); integers take no fractions;
floats take integers but never ``.inf`` or ``.nan``. Each numeric field's range is declared once, in ``RANGES``
(README's "Suite fields and their ranges" lists them; ``tests/test_hostile_suites.py`` checks that it does).
Names are non-empty printable text: no NUL, control characters (ANSI/OSC escapes), line breaks or invisible
format characters (a right-to-left override).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, AllowInfNan, Strict

MAX_NAME = 200  # suite, sampler, adapter, dtype… names
MAX_PATH = 4096  # model, trace and interpreter paths (Linux PATH_MAX)
MAX_TEXT = 10_000  # a description
DEVICE = re.compile(r"[a-z][a-z0-9_]{0,31}(?::[0-9]{1,4})?")
VISIBLE_GPUS = re.compile(r"[A-Za-z0-9-]{1,64}(?:,[A-Za-z0-9-]{1,64}){0,255}")  # indexes, GPU-/MIG- UUIDs


def _printable(value: str, allowed: str = "") -> str | None:
    bad = next((c for c in value if not (c.isprintable() or c in allowed)), None)
    return None if bad is None else f"U+{ord(bad):04X}"


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty name")
    if len(value) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters, got {len(value)}")
    bad = _printable(value)
    if bad:
        raise ValueError(f"must be printable text: {value!r} holds the control or invisible character {bad}")
    return value


def _path(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty path")
    if len(value) > MAX_PATH:
        raise ValueError(f"must be at most {MAX_PATH} characters, got {len(value)}")
    bad = _printable(value)
    if bad:
        raise ValueError(f"must be printable text: {value!r} holds the control or invisible character {bad}")
    return value


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters, got {len(value)}")
    bad = _printable(value, "\n\t")
    if bad:
        raise ValueError(f"must be printable text (line breaks and tabs allowed): it holds {bad}")
    return value


def _device(value: str) -> str:
    if not DEVICE.fullmatch(value):
        raise ValueError(f"{value!r} is not a device name: use cpu, cuda or cuda:N (or a name the engine knows)")
    return value


def _visible_gpus(value: str) -> str:
    if not VISIBLE_GPUS.fullmatch(value):
        raise ValueError(f"{value!r} is not a GPU list: comma-separated indexes or GPU-/MIG- UUIDs, e.g. '0,1'")
    return value


Name = Annotated[str, Strict(), AfterValidator(_name)]
PathText = Annotated[str, Strict(), AfterValidator(_path)]
Text = Annotated[str, Strict(), AfterValidator(_text)]
Device = Annotated[str, Strict(), AfterValidator(_device)]
VisibleGpus = Annotated[str, Strict(), AfterValidator(_visible_gpus)]
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # an int is taken as a float; a bool or a string is not
FiniteFloat = Annotated[float, Strict(), AllowInfNan(False)]  # for values without a range of their own


@dataclass(frozen=True)
class Range:
    """A numeric field's range: ``lo <= x <= hi`` (``lo < x`` when ``lo_open``); finite always."""

    lo: float
    hi: float
    lo_open: bool = False
    unit: str = ""

    def text(self) -> str:
        hi = f"{int(self.hi):,}" if float(self.hi).is_integer() else f"{self.hi:,}"
        unit = f" {self.unit}" if self.unit else ""
        return f"> {self.lo:g} and <= {hi}{unit}" if self.lo_open else f"{self.lo:g} to {hi}{unit}"

    def check(self, value: Any) -> None:
        if value is None:
            return
        ok = math.isfinite(value) and (self.lo < value if self.lo_open else self.lo <= value) and value <= self.hi
        if not ok:
            raise ValueError(f"must be {self.text()}, got {value!r}")


COUNT = 1_000_000
TOKENS = Range(1, 1_048_576, unit="tokens")
SEED = Range(0, 2**32 - 1)
RATE = Range(0, 1e6, lo_open=True, unit="requests/s")
SECONDS_DAY = Range(0, 86_400.0, lo_open=True, unit="s")
SECONDS_WEEK = Range(0, 604_800.0, lo_open=True, unit="s")
MILLISECONDS = Range(0, 86_400_000.0, lo_open=True, unit="ms")
PERCENT = Range(0, 100.0, lo_open=True, unit="%")

# suite path → range; "engines[]." and "samplers[]." are per entry, "search." per search mode where they differ
RANGES: dict[str, Range] = {
    "repetitions": Range(1, 1000),
    "warmup": Range(0, 1000),
    "timeout_s": SECONDS_WEEK,
    "load_timeout_s": SECONDS_WEEK,
    "idle_s": Range(0, 3600.0, unit="s"),
    "engines[].threads": Range(1, 4096),
    "engines[].tensor_parallel": Range(1, 64),
    "engines[].pipeline_parallel": Range(1, 64),
    "engines[].replicas": Range(1, 64),
    "workload.input_tokens": TOKENS,
    "workload.output_tokens": TOKENS,
    "workload.batch_size": Range(1, 16_384),
    "workload.num_batches": Range(1, 100_000),
    "workload.seed": SEED,
    "workload.rate": RATE,
    "workload.concurrency": Range(1, 100_000),
    "workload.num_requests": Range(1, COUNT * 10),
    "workload.burst_size": Range(1, 100_000),
    "workload.duration_s": SECONDS_WEEK,
    "workload.request_timeout_s": SECONDS_DAY,
    "workload.warm_connections": Range(0, 10_000),
    "samplers[].interval_ms": Range(1, 3_600_000.0, unit="ms"),
    "slo.ttft_ms": MILLISECONDS,
    "slo.tpot_ms": MILLISECONDS,
    "slo.e2e_ms": MILLISECONDS,
    "executor.retries": Range(0, 10),
    "executor.poll_s": Range(0, 3600.0, lo_open=True, unit="s"),
    "targets{}.gpus": Range(0, 1024),
    "targets{}.cpus": Range(0, 100_000, lo_open=True),
    "targets{}.memory_gb": Range(0, 1_000_000, lo_open=True, unit="GB"),
    "search.rates (rate_sweep)": Range(1, 50),
    "search.max_trials (slo)": Range(2, 50),
    "search.rate_min (slo)": RATE,
    "search.rate_max (slo)": RATE,
    "search.tolerance_pct (slo)": PERCENT,
    "search.max_concurrency (rate_sweep, slo)": Range(1, 100_000),
    "search.saturation_pct (rate_sweep, slo)": PERCENT,
    "search.max_trials (args)": Range(1, 500),
    "search.seed (args)": SEED,
}
MAX_POINTS = 10_000  # points one suite may expand to (a search's grid included)


def range_for(section: str, field: str, modes: tuple[str, ...] = ()) -> Range | None:
    """The range of ``field`` in the suite section ``section`` (``workload.``, ``engines[].``…); ``modes`` picks
    between entries of one name that differ by search mode (``search.max_trials (slo)``)."""
    key = f"{section}{field}"
    for name, found in RANGES.items():
        if name == key:
            return found
        if name.startswith(key + " (") and set(name[len(key) + 2 : -1].split(", ")) & set(modes):
            return found
    return None


def check_range(section: str, field: str, value: Any, modes: tuple[str, ...] = ()) -> Any:
    """``value`` (or each item of a list, a sweep axis) inside its declared range; ``ValueError`` otherwise."""
    found = range_for(section, field, modes)
    if found is None:
        return value
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        try:
            found.check(item)
        except ValueError as exc:
            raise ValueError(f"{exc} (item {i + 1} of the axis)" if isinstance(value, list) else str(exc)) from None
    return value
