"""Length (and think-time) distributions: what a suite writes as ``input_lengths:`` / ``output_lengths:`` and
``sessions.think_time_s:``, seeded and bounded.

``{dist: fixed, value: 128}``, ``{dist: uniform, min: 64, max: 512}``, ``{dist: normal, mean: 256, std: 64}``,
``{dist: lognormal, median: 200, sigma: 0.8}``, ``{dist: empirical, file: lengths.csv}`` (a histogram: lines of
``value,count``, or a JSON object ``{"value": count}``). Every draw is clipped to ``[min, max]`` (``min`` defaults to
1 for lengths): the suite says which lengths it can take, and a draw outside them is the distribution's tail, not a
request the server should refuse.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.files import FileRefused, read_regular


class DistributionError(ValueError):
    """A histogram file that cannot be read; one line naming the file and line."""


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float | None = Field(default=None, ge=0, description="draws below are clipped up to it")
    max: float | None = Field(default=None, gt=0, description="draws above are clipped down to it")

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def sample(self, n: int, seed: int | list[int], floor: float = 1.0) -> np.ndarray:
        """``n`` draws from ``numpy.random.default_rng(seed)``, clipped to [min (or ``floor``), max]."""
        values = self.raw(np.random.default_rng(seed), n).astype(float)
        low = self.min if self.min is not None else floor
        return np.clip(values, low, self.max if self.max is not None else np.inf)

    def lengths(self, n: int, seed: int | list[int]) -> list[int]:
        """``n`` token counts (rounded draws, at least 1)."""
        return [max(int(round(v)), 1) for v in self.sample(n, seed)]

    def upper(self) -> float | None:
        """The largest value a draw can take, where it is bounded (for checks against the model's context)."""
        return self.max

    @model_validator(mode="after")
    def _ordered(self) -> _Dist:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float = Field(gt=0)

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)

    def upper(self) -> float | None:
        return self.value if self.max is None else min(self.value, self.max)


class Uniform(_Dist):
    """Uniform over [min, max] (both required); lengths are rounded, so both ends are drawn."""

    dist: Literal["uniform"]
    min: float = Field(ge=0)
    max: float = Field(gt=0)

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.min, self.max, size=n)


class Normal(_Dist):
    dist: Literal["normal"]
    mean: float = Field(gt=0)
    std: float = Field(ge=0)

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(self.mean, self.std, size=n)


class Lognormal(_Dist):
    """``exp(N(ln median, sigma²))``: the median is ``median``, the mean ``median · exp(sigma² / 2)``."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(np.log(self.median), self.sigma, size=n)


class Exponential(_Dist):
    """Exponential with mean ``mean`` (think times: a user who may answer at once or after a long pause)."""

    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, size=n)


class Empirical(_Dist):
    """Draws from a histogram file: each value with probability count / Σ counts."""

    dist: Literal["empirical"]
    file: str

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        return load_histogram(self.file)

    def raw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        values, counts = self.histogram()
        return rng.choice(values, size=n, p=counts / counts.sum())

    def upper(self) -> float | None:
        top = float(self.histogram()[0].max())
        return top if self.max is None else min(top, self.max)


Distribution = Annotated[Fixed | Uniform | Normal | Lognormal | Exponential | Empirical, Field(discriminator="dist")]
DIST_NAMES = ("fixed", "uniform", "normal", "lognormal", "exponential", "empirical")


def load_histogram(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``value,count`` lines (a header line is allowed) or a JSON object ``{"value": count}``; counts ≥ 0, at
    least one > 0."""
    path = Path(path)
    try:
        text = read_regular(path, 16 << 20).decode("utf-8", errors="replace")
    except FileRefused as exc:
        raise DistributionError(f"{path}: cannot read histogram: {exc}") from None
    pairs: list[tuple[float, float]] = []
    if path.suffix == ".json":
        try:
            obj = json.loads(text)
            pairs = [(float(k), float(v)) for k, v in obj.items()]
        except (ValueError, AttributeError, TypeError) as exc:
            raise DistributionError(f"{path}: not a JSON object of value → count: {exc}") from None
    else:
        for n, row in enumerate(csv.reader(text.splitlines()), 1):
            if not row or not "".join(row).strip():
                continue
            try:
                pairs.append((float(row[0]), float(row[1])))
            except (ValueError, IndexError):
                if n == 1:
                    continue  # a header
                raise DistributionError(f"{path}:{n}: need `value,count`, got {','.join(row)[:60]!r}") from None
    if not pairs or any(c < 0 or v < 0 for v, c in pairs) or sum(c for _, c in pairs) <= 0:
        raise DistributionError(f"{path}: the histogram needs values >= 0 with counts >= 0, at least one count > 0")
    values, counts = zip(*pairs, strict=True)
    return np.array(values, dtype=float), np.array(counts, dtype=float)
