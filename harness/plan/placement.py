"""Where a suite runs: its executor (``executor:``) and the hardware targets its engine groups ask for (``targets:``).

A target is what one engine group needs of the machine that runs it: GPU count, accelerator type, CPUs, memory,
custom resources (Ray), partition / gres / constraint (Slurm). An engine names its target with ``hardware:``, which
is a sweep axis like any engine field (``hardware: [h100, l4]`` measures every point on both). The executor turns a
target into its cluster's request (``harness.execution.executors``); ``local`` ignores targets.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from harness.plan.fields import Float, Int, Name, PathText, check_range

EXECUTOR_KINDS = ("local", "ray", "slurm")
ExecutorKind = Literal["local", "ray", "slurm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _section: ClassVar[str] = ""

    @field_validator("*")
    @classmethod
    def _in_range(cls, value: Any, info: ValidationInfo) -> Any:
        return check_range(cls._section, str(info.field_name), value)


class HardwareTarget(_Strict):
    """What one engine group needs of the node that runs it. Unset fields ask for nothing."""

    _section: ClassVar[str] = "targets{}."

    gpus: Int = Field(default=0, description="GPUs the group holds (Ray num_gpus; Slurm --gpus)")
    accelerator: Name | None = Field(default=None, description="accelerator type, e.g. H100, L4 (Ray; Slurm gres)")
    cpus: Float | None = Field(default=None, description="CPU cores the group holds (Ray num_cpus; Slurm -c)")
    memory_gb: Float | None = Field(default=None, description="memory the group holds (Ray memory; Slurm --mem)")
    resources: dict[Name, Float] = Field(default_factory=dict, description="Ray custom resources, e.g. {accel_a: 1}")
    partition: Name | None = Field(default=None, description="Slurm partition")
    gres: Name | None = Field(default=None, description="Slurm generic resources, e.g. gpu:h100:1")
    constraint: Name | None = Field(default=None, description="Slurm node features, e.g. h100")

    @field_validator("resources")
    @classmethod
    def _amounts(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if not 0 < amount <= 1_000_000:
                raise ValueError(f"{name}: a resource amount must be > 0 and <= 1,000,000, got {amount!r}")
        return value

    def describe(self) -> str:
        """The request in words, for errors and ``harness validate``."""
        parts = [f"{self.gpus} GPU" + ("s" if self.gpus != 1 else "")] if self.gpus else []
        parts += [f"accelerator {self.accelerator}"] if self.accelerator else []
        parts += [f"{self.cpus:g} CPUs"] if self.cpus is not None else []
        parts += [f"{self.memory_gb:g} GB memory"] if self.memory_gb is not None else []
        parts += [f"{k}={v:g}" for k, v in self.resources.items()]
        parts += [f"{k} {getattr(self, k)}" for k in ("partition", "gres", "constraint") if getattr(self, k)]
        return ", ".join(parts) or "nothing in particular"


class ExecutorSpec(_Strict):
    """Where the groups run. ``executor: ray`` is short for ``executor: {kind: ray}``."""

    _section: ClassVar[str] = "executor."

    kind: ExecutorKind = "local"
    address: str | None = Field(
        default=None, max_length=4096, description="Ray: ray://host:10001, auto, or unset to start a local cluster"
    )
    retries: Int = Field(default=0, description="Ray: a group whose node is lost is run again elsewhere this often")
    shared_dir: PathText | None = Field(
        default=None, description="Slurm: a directory every node and this machine see (bundles, logs)"
    )
    sbatch_args: list[Name] = Field(default_factory=list, description="Slurm: extra sbatch options, e.g. --account=x")
    time_limit: Name | None = Field(default=None, description="Slurm: --time of each task, e.g. 01:00:00")
    wait: bool = Field(default=True, description="Slurm: wait for the tasks (false: submit; `harness collect`)")
    poll_s: Float = Field(default=2.0, description="Slurm: how often the driver looks for finished tasks")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


def check_targets(engines: list[Any], targets: dict[str, HardwareTarget]) -> None:
    """``ValueError`` for an engine whose ``hardware:`` names a target the suite does not declare."""
    from harness.hints import did_you_mean

    for i, engine in enumerate(engines):
        names = engine.hardware if isinstance(engine.hardware, list) else [engine.hardware]
        for name in names:
            if name is not None and name not in targets:
                known = ", ".join(sorted(targets)) or "none declared"
                raise ValueError(
                    f"engines[{i}].hardware: unknown target {name!r}{did_you_mean(name, list(targets))} "
                    f"(targets: {known}); declare it under `targets:`"
                )
