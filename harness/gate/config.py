"""The gate's configuration: the suite's ``gate:`` section, defaults from the metric catalogue."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.metrics.catalogue import CATALOGUE


class MetricRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold_pct: float | None = None
    direction: Literal["lower", "higher"] | None = None


def default_metrics() -> dict[str, MetricRule]:
    return {m: MetricRule() for m in CATALOGUE.gate_defaults()}


class GateConfig(BaseModel):
    """The suite's ``gate:`` section."""

    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    threshold_pct: float = Field(default=5.0, ge=0, description="default for every metric")
    metrics: dict[str, MetricRule] = Field(default_factory=default_metrics)
    fail_on_failed_points: bool = True


def repetitions_warning(gate: dict, repetitions: int) -> str | None:
    """What ``harness validate`` says when a gated suite's repetitions cannot reach the gate's alpha: every change
    beyond a threshold would then be inconclusive, and the gate could never find a regression."""
    from harness.gate.stats import min_repetitions

    try:
        alpha = GateConfig.model_validate(gate).alpha
    except ValueError:
        return None  # a bad gate section is an error reported elsewhere
    need = min_repetitions(alpha)
    if repetitions >= need:
        return None
    return (
        f"gate: {repetitions} repetition{'' if repetitions == 1 else 's'} cannot confirm any change at "
        f"alpha={alpha:g} (the one-sided U test needs ≥ {need} per run): the gate's verdict would be INCONCLUSIVE"
    )


def direction(metric: str, rule: MetricRule | None = None) -> Literal["lower", "higher"]:
    """Which way is better for ``metric``: the rule's override, else the catalogue's declaration."""
    if rule is not None and rule.direction:
        return rule.direction
    return CATALOGUE.direction(metric)
