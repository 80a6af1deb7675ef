"""Adapter discovery through the ``harness.adapters`` entry-point group, so plugins need no change in core."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

GROUP = "harness.adapters"


class UnknownAdapter(Exception):
    pass


@cache
def available_adapters() -> dict[str, Any]:
    """Installed adapters by name (entry points, not yet imported)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def adapter_class(name: str) -> type:
    adapters = available_adapters()
    if name not in adapters:
        installed = ", ".join(sorted(adapters)) or "none"
        raise UnknownAdapter(f"unknown adapter {name!r}; installed adapters: {installed}")
    try:
        return adapters[name].load()
    except Exception as exc:  # a broken plugin must not take the whole CLI down
        raise UnknownAdapter(f"adapter {name!r} failed to import: {type(exc).__name__}: {exc}") from exc


def adapter_ref(name: str) -> str | None:
    """``module:Class`` of an installed adapter, for a worker in another environment where it is not registered."""
    ep = available_adapters().get(name)
    return ep.value if ep is not None else None
