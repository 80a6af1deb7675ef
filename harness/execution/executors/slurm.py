"""Engine groups on a Slurm site: a job array per hardware target (one array task per group) submitted with
``sbatch``; each task runs its group on its node exactly as locally and writes a run bundle into the shared directory
(``executors.bundles``); this driver waits (the progress bar advances as points land), imports each bundle as it
is rewritten, and stores the points of a task that ended without them (cancelled, failed, timed out, node lost) as
failed with the task's Slurm state and the tail of its log. ``executor.wait: false`` (``harness run --no-wait``)
submits and returns; ``harness collect`` imports what landed since.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.execution.executors.base import Executor, PlacementError
from harness.execution.executors.bundles import Manifest, TaskEntry, bundle_path, bundle_points, done_path
from harness.execution.executors.node import NodeJob, lost_point
from harness.execution.stored import StoredPoint
from harness.plan.placement import ExecutorSpec, HardwareTarget
from harness.plan.points import Point
from harness.results.store import StoreError
from harness.scenarios.base import GroupTask, Measured, SearchResult, TaskOutcome

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL"}
ENDED |= {"DEADLINE", "SPECIAL_EXIT", "REVOKED"}


class Submitted(Exception):  # noqa: N818 - not an error: the run goes on on the cluster
    """``--no-wait``: the tasks are queued; ``harness collect`` imports their points later."""


SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "CREDENTIAL", "API_KEY")


def task_environment() -> dict[str, str]:
    """This process's environment without the store's URL or anything named like a secret: sbatch hands the
    submitting environment to every task (``--export=ALL``), and a task needs no database or credentials."""
    return {
        k: v
        for k, v in os.environ.items()
        if k != "HARNESS_STORE" and not any(word in k.upper() for word in SECRET_WORDS)
    }


def _slurm(*args: str) -> str:
    try:
        env = task_environment()
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PlacementError(f"executor slurm: {args[0]}: {exc}") from None
    if done.returncode != 0:
        raise PlacementError(f"executor slurm: {shlex.join(args[:2])}…: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def sbatch_options(target: HardwareTarget, spec: ExecutorSpec) -> list[str]:
    """A target as sbatch options."""
    opts = [f"--partition={target.partition}"] if target.partition else []
    opts += [f"--cpus-per-task={max(1, int(target.cpus))}"] if target.cpus is not None else []
    opts += [f"--mem={int(target.memory_gb * 1024)}M"] if target.memory_gb is not None else []
    gres = target.gres or (f"gpu:{target.accelerator.lower()}:{target.gpus or 1}" if target.accelerator else None)
    opts += [f"--gres={gres}"] if gres else ([f"--gpus={target.gpus}"] if target.gpus else [])
    opts += [f"--constraint={target.constraint}"] if target.constraint else []
    opts += [f"--time={spec.time_limit}"] if spec.time_limit else []
    return opts + list(spec.sbatch_args)


def task_states(job_ids: set[str]) -> dict[str, str]:
    """``{"JOB_TASK": STATE}`` of the arrays' tasks Slurm still knows (finished ones for ``MinJobAge``)."""
    if not job_ids:
        return {}
    text = _slurm("squeue", "-h", "-r", "-t", "all", "-j", ",".join(sorted(job_ids)), "-o", "%i|%T")
    return dict(line.split("|", 1) for line in text.split() if "|" in line)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "empty log"


@dataclass
class Follower:
    """One submission's tasks as they land: imports each task's new points and fails what a dead task left."""

    folder: Path
    sink: Callable[[StoredPoint], None]
    stored: set[str] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    at_ns: Callable[[], int] = lambda: 0

    def __post_init__(self) -> None:
        self.manifest = Manifest.read(self.folder)

    def _import(self, entry: TaskEntry) -> None:
        path = bundle_path(self.folder, entry.index)
        if not path.exists():
            return
        try:
            points = bundle_points(path)
        except StoreError:  # being replaced as we read: the next poll reads it whole
            return
        for stored in points:
            if stored.point.point_id not in self.stored:
                self.stored.add(stored.point.point_id)
                self.sink(stored)

    def poll(self, states: dict[str, str]) -> bool:
        """Import what landed; True when every task has ended."""
        for entry in self.manifest.tasks:
            if entry.index in self.finished:
                continue
            self._import(entry)
            state = states.get(f"{entry.slurm_job_id}_{entry.index}", "UNKNOWN (no longer in squeue)")
            if done_path(self.folder, entry.index).exists() or state.split()[0] in ENDED or "UNKNOWN" in state:
                self._import(entry)
                self.finished.add(entry.index)
                if not done_path(self.folder, entry.index).exists():
                    self._fail_rest(entry, state)
        return len(self.finished) == len(self.manifest.tasks)

    def _fail_rest(self, entry: TaskEntry, state: str) -> None:
        log = _tail(self.folder / "logs" / f"{entry.index}.log")
        error = f"slurm task {entry.slurm_job_id}_{entry.index} ended {state} before measuring it; log: {log}"
        job = NodeJob.model_validate_json((self.folder / "jobs" / f"{entry.index}.json").read_text())
        for point in job.task.points:
            if point.point_id not in self.stored:
                self.stored.add(point.point_id)
                self.sink(lost_point(point, error, {"slurm_job_id": entry.slurm_job_id}, self.at_ns()))

    def jobs(self) -> set[str]:
        return {e.slurm_job_id for e in self.manifest.tasks if e.slurm_job_id}


class SlurmExecutor(Executor):
    name: ClassVar[str] = "slurm"

    def _folder(self) -> Path:
        if not self.spec.shared_dir:
            raise PlacementError("executor.shared_dir: required for slurm (a folder every node and this machine see)")
        folder = Path(self.spec.shared_dir) / self.context.run_id / time.strftime("%Y%m%d-%H%M%S")
        for sub in ("jobs", "bundles", "done", "logs"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return folder

    def check(self, tasks: Sequence[GroupTask]) -> list[str]:
        _slurm("sinfo", "-h", "-o", "%P")  # the controller answers
        problems = []
        for task in tasks:
            opts = sbatch_options(self.target(task), self.spec)
            try:  # --test-only: would Slurm take it, and where (nothing is queued)
                _slurm("sbatch", "--test-only", *opts, "--wrap", "true")
            except PlacementError as exc:
                problems.append(f"group {task.points[0].label() if task.points else task.group_id}: {exc}")
        return problems

    def _submit(self, folder: Path, tasks: Sequence[GroupTask]) -> Manifest:
        entries = []
        by_target: dict[str | None, list[int]] = {}
        for i, task in enumerate(tasks):
            (folder / "jobs" / f"{i}.json").write_text(NodeJob.build(task, self.context).model_dump_json())
            ids, labels = [p.point_id for p in task.points], [p.label() for p in task.points]
            entries.append(TaskEntry(index=i, group_id=task.group_id, point_ids=ids, labels=labels))
            by_target.setdefault(task.engine.hardware, []).append(i)
        manifest = Manifest(run_id=self.context.run_id, tasks=entries)
        manifest.write(folder)  # before sbatch: collect finds the submission even if the driver dies now
        for target, indexes in by_target.items():
            task = tasks[indexes[0]]
            script = folder / f"task-{target or 'default'}.sh"
            script.write_text(
                f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m harness.execution.executors.bundles "
                f'{shlex.quote(str(folder))} "$SLURM_ARRAY_TASK_ID"\n'
            )
            job_id = (
                _slurm(
                    "sbatch",
                    "--parsable",
                    f"--array={','.join(map(str, indexes))}",
                    f"--job-name=harness-{self.context.run_id}",
                    f"--output={folder / 'logs' / '%a.log'}",
                    *sbatch_options(self.target(task), self.spec),
                    str(script),
                )
                .strip()
                .split(";")[0]
            )
            for i in indexes:
                entries[i].slurm_job_id = job_id
        manifest.write(folder)
        return manifest

    def run_tasks(self, tasks: Sequence[GroupTask]) -> list[TaskOutcome]:
        folder = self._folder()
        self._submit(folder, tasks)
        self.context.reporter.message(f"submitted {len(tasks)} slurm task(s) in {folder}")
        if not self.spec.wait:
            run_id = self.context.run_id
            raise Submitted(f"run {run_id}: {len(tasks)} slurm task(s) queued in {folder}; harness collect {run_id}")
        measured: dict[str, StoredPoint] = {}

        def sink(stored: StoredPoint) -> None:
            measured[stored.point.point_id] = stored
            self.context.sink(stored)

        follower = Follower(folder, sink, at_ns=self.context.clock.now_ns)
        try:
            while not follower.poll(task_states(follower.jobs())):
                time.sleep(self.spec.poll_s)
        except BaseException:  # Ctrl-C, SIGTERM: nothing left running for a driver that is gone (use --no-wait)
            subprocess.run(["scancel", *sorted(follower.jobs())], capture_output=True, timeout=60, check=False)
            raise
        return [
            TaskOutcome(measured=[_measured(p, measured) for p in task.points], searches=_searches(folder, i))
            for i, task in enumerate(tasks)
        ]


def _measured(point: Point, stored: dict[str, StoredPoint]) -> Measured:
    found = stored.get(point.point_id)
    if found is None:
        return Measured(point, "failed")
    return Measured(point, found.status, found.aggregates() if found.status == "ok" else None, found.error)


def _searches(folder: Path, index: int) -> list[SearchResult]:
    """The searches a task answered (its ``done`` file), for the runner to record."""
    try:
        done = json.loads(done_path(folder, index).read_text())
    except (OSError, ValueError):
        return []
    return [SearchResult.model_validate(s) for s in done.get("searches", [])]
