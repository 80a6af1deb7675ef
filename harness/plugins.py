"""Plug-points found by name: the harness's own implementations plus any installed package's entry points.

One registry per plug-point (engines ``harness.adapters``, samplers ``harness.samplers``, executors
``harness.executors``). A third-party package adds one by declaring an entry point; nothing in core changes.
Classes are imported on first use, so a missing optional library only matters to suites that ask for it.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from harness.hints import did_you_mean


class UnknownPlugin(Exception):
    """No plug-in of that name, or it failed to import; one line with the installed names."""


UnknownAdapter = UnknownPlugin  # the engine registry's name for it


class Registry:
    def __init__(self, group: str, kind: str, builtins: dict[str, str] | None = None) -> None:
        self.group = group
        self.kind = kind  # "adapter", "sampler", "executor": for messages
        self.builtins = dict(builtins or {})

    @cache  # noqa: B019 - registries live as long as the process
    def refs(self) -> dict[str, str]:
        """``name → "module:Class"``: built-ins first, then installed entry points (which may override them)."""
        found = dict(self.builtins)
        found.update({ep.name: ep.value for ep in entry_points(group=self.group)})
        return found

    def names(self) -> list[str]:
        return sorted(self.refs())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.refs()

    def ref(self, name: str) -> str | None:
        return self.refs().get(name)

    def load(self, name: str) -> Any:
        refs = self.refs()
        if name not in refs:
            installed = ", ".join(sorted(refs)) or "none"
            raise UnknownPlugin(
                f"unknown {self.kind} {name!r}{did_you_mean(name, refs)}; installed {self.kind}s: {installed}"
            )
        module, _, attr = refs[name].partition(":")
        try:
            return getattr(import_module(module), attr)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            raise UnknownPlugin(f"{self.kind} {name!r} failed to import: {type(exc).__name__}: {exc}") from exc


ADAPTERS = Registry("harness.adapters", "adapter")


def adapter_class(name: str) -> Any:
    return ADAPTERS.load(name)


def available_adapters() -> list[str]:
    return ADAPTERS.names()


def adapter_ref(name: str) -> str | None:
    """``module:Class`` of an installed adapter, for a worker in another environment where it is not registered."""
    return ADAPTERS.ref(name)
