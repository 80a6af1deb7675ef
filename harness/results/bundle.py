"""A whole run as one file (gzipped JSON lines), so a CI artifact can carry a baseline between jobs.

Values are exact (no CSV escaping); secrets are redacted on the way out and again on the way in."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from harness.redact import redact
from harness.results.store import RUN_TABLES, Store, StoreError

FORMAT = "llm-harness-run"
VERSION = 1
SUFFIX = ".harness.jsonl.gz"


def export_bundle(store: Store, run_id: str, path: Path) -> Path:
    run_id = store.resolve(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": FORMAT, "version": VERSION, "run_id": run_id}) + "\n")
        for table in RUN_TABLES:
            for row in store.table_rows(table, run_id):
                row.pop("id", None)
                row = redact(row)  # a store written before redaction may hold keys; all else stays exact
                fh.write(json.dumps({"table": table.name, "row": row}, default=str) + "\n")
    tmp.replace(path)  # a half-written bundle never carries the final name
    return path


def read_bundle(path: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            if header.get("format") != FORMAT:
                raise StoreError(f"{path}: not a harness run bundle")
            if header.get("version", 0) > VERSION:
                raise StoreError(f"{path}: bundle version {header['version']} is newer than this harness reads")
            rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in RUN_TABLES}
            for line in fh:
                item = json.loads(line)
                rows[item["table"]].append(item["row"])
    except (OSError, EOFError, json.JSONDecodeError, KeyError) as exc:
        raise StoreError(f"{path}: cannot read run bundle: {exc}") from None
    if not rows["run"]:
        raise StoreError(f"{path}: the bundle holds no run")
    return rows


def import_bundle(store: Store, path: Path, replace: bool = False) -> str:
    rows = read_bundle(path)
    store.import_rows(rows, replace=replace)
    return rows["run"][0]["run_id"]


def is_bundle(ref: str) -> bool:
    return ref.endswith(".gz") and Path(ref).is_file()
