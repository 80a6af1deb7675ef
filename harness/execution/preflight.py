"""Checks before anything runs that need the world outside the suite: what this machine can run (``machine_report``:
CUDA, an engine's extras, samplers' sources) and a server attached by URL that must answer (``preflight``).

The machine checks are each engine's own (``EngineAdapter.check_environment``) and each sampler's
(``Sampler.available``); nothing here knows an engine or a sampler by name. A point whose engine cannot run here is
not bad input: ``harness validate`` lists it as skipped with the reason, and the run skips it with the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.execution.validate import engine_python
from harness.plan.points import Point
from harness.plan.schema import Suite, SuiteError


@dataclass
class MachineReport:
    """What this machine can run of a suite's points."""

    points: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason → points skipped for it
    notes: list[str] = field(default_factory=list)  # what runs with less (a sampler disabled, arguments unchecked)

    @property
    def runnable(self) -> int:
        return self.points - sum(self.skipped.values())

    def skip_lines(self) -> list[str]:
        """``2 points will be skipped: device cuda: …`` per reason, the largest first."""
        return [
            f"{n} point{'s' if n != 1 else ''} will be skipped: {why}"
            for why, n in sorted(self.skipped.items(), key=lambda kv: -kv[1])
        ]

    def nothing_runs(self) -> str:
        """The one-line reason when no point can run here."""
        reasons = "; ".join(f"{why} ({n} point{'s' if n != 1 else ''})" for why, n in self.skipped.items())
        return f"no point can run on this machine: {reasons}"


def _group_reason(point: Point) -> str | None:
    from harness.plugins import adapter_class

    cls = adapter_class(point.engine.adapter)
    try:
        return cls.check_environment(point.engine, engine_python(point.engine))
    except Exception as exc:  # noqa: BLE001 - a check that breaks says so instead of taking validate down
        return f"the {point.engine.adapter} engine's environment check failed: {type(exc).__name__}: {exc}"


def machine_report(suite: Suite, points: list[Point]) -> MachineReport:
    """Which points this machine will skip and why (once per engine config), and what will run with less."""
    from harness.measure.samplers import sampler_class

    report = MachineReport(points=len(points))
    reasons: dict[str, str | None] = {}
    for p in points:
        if p.group_id not in reasons:
            reasons[p.group_id] = _group_reason(p)
        why = reasons[p.group_id]
        if why:
            report.skipped[why] = report.skipped.get(why, 0) + 1
    for spec in suite.samplers:
        ok, why = sampler_class(spec.name).available()
        if not ok:
            report.notes.append(f"sampler {spec.name} will be disabled: {why}")
    for i, engine in enumerate(suite.engines):
        if engine.env is not None and engine_python(engine) is None:
            report.notes.append(
                f"engines[{i}].env is not built yet: what it installs, and the arguments that depend on it, are "
                "checked when `harness env` or the run builds it"
            )
    return report


def preflight(suite: Suite, points: list[Point]) -> None:
    """Each engine's own ``preflight`` (``EngineAdapter.preflight``), once per engine config: what fails here is bad
    input (exit 2), not a failed point."""
    from harness.adapters.base import AdapterError
    from harness.plugins import adapter_class

    seen: set[str] = set()
    for p in points:
        if p.group_id in seen:
            continue
        seen.add(p.group_id)
        try:
            adapter_class(p.engine.adapter).preflight(p.engine)
        except AdapterError as exc:
            raise SuiteError(f"{suite.where('engines')}: engines.args: {exc}") from None
