"""Resolved points: every field a single value. What the runner measures, what the store keeps, what ids hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.plan.axes import PARALLEL_FIELDS
from harness.plan.schema import EnvSpec
from harness.workload.lengths import Distribution
from harness.workload.sources import PromptSource
from harness.workload.traffic import Sessions, SharedPrefix


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    replicas: int = 1
    hardware: str | None = None  # a target of the suite's ``targets:`` (where the group runs)

    @property
    def devices_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    @property
    def device_count(self) -> int:
        """Devices the point spans: every rank of every replica."""
        return self.devices_per_replica * self.replicas

    def identity(self) -> dict[str, Any]:
        """What identifies this engine; ``env``, ``hardware`` and the parallelism axes only when set, so ids of
        suites without them stay as they were."""
        unset = {"env"} if self.env is None else set()
        unset |= {f for f in PARALLEL_FIELDS if getattr(self, f) == 1}
        unset |= {"hardware"} if self.hardware is None else set()
        return self.model_dump(exclude=unset)

    def group_id(self) -> str:
        return stable_hash(self.identity())


class WorkloadConfig(_Strict):
    kind: Literal["offline_batch"] = "offline_batch"
    input_tokens: int
    output_tokens: int
    batch_size: int
    num_batches: int
    seed: int

    def identity(self) -> dict[str, Any]:
        return self.model_dump()


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
    # the richer traffic shapes; None (and left out of the point id) when the suite has none of them
    prompts: PromptSource | None = None
    input_lengths: Distribution | None = None
    output_lengths: Distribution | None = None
    shared_prefix: SharedPrefix | None = None
    sessions: Sessions | None = None

    def identity(self) -> dict[str, Any]:
        """What identifies this workload; the traffic shapes only when set, so ids of older suites stay."""
        return self.model_dump(exclude={f for f in TRAFFIC_FIELDS if getattr(self, f) is None})


TRAFFIC_FIELDS = ("prompts", "input_lengths", "output_lengths", "shared_prefix", "sessions")


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
        """The swept axes' values; a suite that sweeps nothing has one point, named by its engine (not its hash)."""
        if self.axes:
            return " ".join(f"{k}={v}" for k, v in self.axes.items())
        e = self.engine
        return " ".join(str(part) for part in (e.adapter, e.model, e.dtype) if part and part != "none")


def stable_hash(obj: Any, length: int = 12) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]
