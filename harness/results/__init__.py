"""Stored results: the store (SQLite or any SQLAlchemy URL), pandas frames over it, exports, bundles, run refs.

``from harness.results import load_points`` is the notebook API. Names are imported on first use, so opening a
store does not import pandas.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "load_points": "harness.results.frames",
    "load_repetitions": "harness.results.frames",
    "load_requests": "harness.results.frames",
    "load_samples": "harness.results.frames",
    "load_summaries": "harness.results.frames",
    "export_run": "harness.results.frames",
    "Store": "harness.results.store",
    "StoreError": "harness.results.store",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.results' has no attribute {name!r}")
