"""Checks before anything runs that need the world outside the suite (a server attached by URL must answer)."""

from __future__ import annotations

from harness.plan.points import Point
from harness.plan.schema import Suite, SuiteError


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
