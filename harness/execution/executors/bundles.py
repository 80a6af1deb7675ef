"""A group's points as a run bundle in a shared directory: what a Slurm task writes as it measures and what the driver
(or ``harness collect``) imports as it lands.

One submission is a folder ``SHARED/RUN_ID/SUBMISSION/``: ``manifest.json`` (the run, the tasks and their points),
``jobs/N.json`` (task N's ``NodeJob``), ``bundles/N.harness.jsonl.gz`` (its points so far, rewritten whole after
each point, so a cancelled task keeps what it measured), ``done/N.json`` (written last: its searches) and
``logs/N.log`` (Slurm's output of the task).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.execution.executors.node import NodeJob, run_on_node
from harness.execution.stored import StoredPoint
from harness.plan.points import Point
from harness.results.bundle import SUFFIX, export_bundle, read_bundle
from harness.results.store import PointResult, Store, StoreError

RUN_TABLES_OF_A_POINT = ("request", "sample", "summary")


class TaskEntry(BaseModel):
    index: int
    group_id: str
    point_ids: list[str]
    labels: list[str]
    slurm_job_id: str | None = None


class Manifest(BaseModel):
    run_id: str
    tasks: list[TaskEntry]

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        return cls.model_validate_json((folder / "manifest.json").read_text())

    def write(self, folder: Path) -> None:
        tmp = folder / "manifest.json.part"
        tmp.write_text(self.model_dump_json(indent=1))
        tmp.replace(folder / "manifest.json")


def bundle_path(folder: Path, index: int) -> Path:
    return folder / "bundles" / f"{index}{SUFFIX}"


def done_path(folder: Path, index: int) -> Path:
    return folder / "done" / f"{index}.json"


class BundledResult(PointResult):
    """A point's rows as a bundle holds them, written again under the driver's run id."""

    def __init__(self, point_id: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(point_id)
        self.rows = rows
        self.summaries = [
            (r["repetition"], r["metric"], r["value"], r["ci_low"], r["ci_high"]) for r in rows.get("summary", [])
        ]

    def _rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        return [{**{k: v for k, v in r.items() if k != "id"}, "run_id": run_id} for r in self.rows.get(table, [])]

    def request_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("request", run_id)

    def sample_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("sample", run_id)

    def summary_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("summary", run_id)


def bundle_points(path: Path) -> list[StoredPoint]:
    """Every point of a task's bundle, as the driver's sink takes them. ``StoreError`` for an unreadable bundle."""
    rows = read_bundle(path)
    points = []
    for row in rows["point"]:
        point_id = row["point_id"]
        mine = {t: [r for r in rows[t] if r["point_id"] == point_id] for t in RUN_TABLES_OF_A_POINT}
        point_row = {k: v for k, v in row.items() if k != "run_id"}
        point = Point.model_validate(row["config"])
        points.append(StoredPoint(point, row["status"], row["error"], point_row, BundledResult(point_id, mine)))
    return points


def run_task(folder: Path, index: int) -> int:
    """A Slurm task: run group ``index`` of the submission in ``folder`` here, its bundle rewritten after each point."""
    job = NodeJob.model_validate_json((folder / "jobs" / f"{index}.json").read_text())
    scratch = Store(str(Path(tempfile.mkdtemp(prefix="harness-task-")) / "task.db"))  # node-local, never shared
    run_id = scratch.create_run(f"task {index}", "", "", {}, "")
    target = bundle_path(folder, index)

    def emit(kind: str, payload: Any) -> None:
        if kind == "point":
            scratch.write_point(run_id, payload.row, payload.result)
            export_bundle(scratch, run_id, target)
        elif kind == "done":
            searches = [s.model_dump(mode="json") for s in payload.searches]
            done_path(folder, index).write_text(json.dumps({"searches": searches}))

    run_on_node(job, emit)
    return 0


def main(argv: list[str]) -> int:
    folder, index = Path(argv[0]), int(argv[1])
    try:
        return run_task(folder, index)
    except StoreError as exc:
        print(f"harness task {index}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
