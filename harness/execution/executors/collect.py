"""``harness collect``: the points of a run whose Slurm tasks were submitted earlier (``harness run --no-wait``),
imported from the bundles its tasks wrote into the shared directory; the run is finished once every task ended."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.execution.executors.base import PlacementError
from harness.execution.executors.slurm import Follower, task_states
from harness.execution.stored import StoredPoint
from harness.plan.loader import parse_suite
from harness.results.store import Store


@dataclass
class Collected:
    ok: int = 0
    failed: int = 0
    pending: int = 0  # tasks still queued or running
    failures: list[tuple[str, str]] = field(default_factory=list)


def submissions(store: Store, run_id: str, shared_dir: str | None = None) -> list[Path]:
    """The run's submission folders in the shared directory (the suite's ``executor.shared_dir`` by default)."""
    shared = (
        shared_dir or parse_suite(store.get_run(run_id)["suite_yaml"], f"suite of run {run_id}").executor.shared_dir
    )
    if not shared:
        raise PlacementError(f"run {run_id}: its suite names no executor.shared_dir; give --shared-dir")
    found = sorted(p.parent for p in (Path(shared) / run_id).glob("*/manifest.json"))
    if not found:
        raise PlacementError(f"run {run_id}: no submission under {Path(shared) / run_id}")
    return found


def collect(store: Store, run_id: str, wait: bool, shared_dir: str | None = None, poll_s: float = 2.0) -> Collected:
    """Import every point that landed; with ``wait``, until every task ended. Finishes the run when all have."""
    result = Collected()

    def sink(stored: StoredPoint) -> None:
        store.write_point(run_id, stored.row, stored.result)
        if stored.status == "ok":
            result.ok += 1
        else:
            result.failed += 1
            result.failures.append((stored.point.label(), stored.error or ""))

    already = {p["point_id"] for p in store.points(run_id)}
    followers = [Follower(folder, sink, stored=set(already)) for folder in submissions(store, run_id, shared_dir)]
    while True:
        states = task_states(set().union(*(f.jobs() for f in followers)))
        ended = [f.poll(states) for f in followers]
        if all(ended) or not wait:
            break
        time.sleep(poll_s)
    result.pending = sum(len(f.manifest.tasks) - len(f.finished) for f in followers)
    if not result.pending:
        failed = any(p["status"] == "failed" for p in store.points(run_id))
        store.finish_run(run_id, "finished_with_failures" if failed else "finished")
    return result
