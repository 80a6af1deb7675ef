"""What a user may name as a run: a run id (or unique prefix), a tag such as ``main``, or an exported bundle file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.results.bundle import import_bundle, is_bundle
from harness.results.store import Store, StoreError


def open_run(store: Store, ref: str) -> tuple[Store, str]:
    """The store holding ``ref`` and its run id. A bundle is loaded into a private temporary store."""
    if is_bundle(ref):
        scratch = Store(str(Path(tempfile.mkdtemp(prefix="harness-bundle-")) / "bundle.db"))
        return scratch, import_bundle(scratch, Path(ref))
    if ref.endswith(".gz"):
        raise StoreError(f"bundle file {ref!r} does not exist")
    return store, store.resolve(ref)
