"""The machine one point was measured on: host, CPU, GPUs, driver, and the cluster node that ran it.

Points of one run may come from several machines (a Ray or Slurm executor places groups by hardware), so each point
keeps its own fingerprint in ``describe.machine``; ``hardware_key`` is what must match before two points' numbers
are paired by ``harness gate`` and ``harness compare`` (the host name and node id may differ: the same model of
machine is the same hardware).
"""

from __future__ import annotations

import os
import socket
from functools import cache
from typing import Any

import psutil

from harness.measure.fingerprint import _cpu_model, _gpus

MACHINE_KEY = "machine"  # where a point's ``describe`` keeps it


def _node() -> dict[str, Any]:
    """The cluster node running this process: Ray's node id inside a Ray task, Slurm's job and node names."""
    node: dict[str, Any] = {}
    if os.environ.get("SLURM_JOB_ID"):
        node["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
        node["slurm_node"] = os.environ.get("SLURMD_NODENAME")
        node["slurm_array_task_id"] = os.environ.get("SLURM_ARRAY_TASK_ID")
    try:
        import ray  # only present with the `ray` extra; a Ray task has it initialised
    except ImportError:
        return node
    if ray.is_initialized():
        node["ray_node_id"] = ray.get_runtime_context().get_node_id()
    return node


@cache
def _static() -> dict[str, Any]:
    gpus = _gpus()
    return {
        "host": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": psutil.cpu_count(logical=True),
        "memory_total_bytes": psutil.virtual_memory().total,
        "gpus": [g["name"] for g in gpus.get("gpus", [])],
        "driver": gpus.get("driver"),
    }


def machine() -> dict[str, Any]:
    """This machine's fingerprint (the static part read once per process) and the node running it now."""
    return {**_static(), **_node()}


def hardware_key(fp: dict[str, Any] | None) -> str | None:
    """The hardware in one line: CPU model × count, GPUs, driver. ``None`` for a point stored without one."""
    if not fp:
        return None
    cpu = f"{fp.get('cpu_model')} x{fp.get('cpu_count') or fp.get('cpu_count_logical')}"
    names = fp.get("gpus") or []
    gpus = ", ".join(g["name"] if isinstance(g, dict) else str(g) for g in names) or "no GPU"
    driver = f" (driver {fp['driver']})" if fp.get("driver") else ""
    return f"{cpu}; {gpus}{driver}"


def point_hardware(point: dict[str, Any], run_fingerprint: dict[str, Any] | None = None) -> str | None:
    """A stored point's hardware key: its own machine, else (stored before points had one) the run's."""
    own = (point.get("describe") or {}).get(MACHINE_KEY)
    return hardware_key(own or run_fingerprint)


def node_of(point: dict[str, Any]) -> str:
    """Where a stored point ran, in a few words: its host and cluster node."""
    fp = (point.get("describe") or {}).get(MACHINE_KEY) or {}
    where = fp.get("host") or "?"
    if fp.get("ray_node_id"):
        where += f" ray:{fp['ray_node_id'][:8]}"
    if fp.get("slurm_job_id"):
        where += f" slurm:{fp['slurm_job_id']}" + (
            f"_{fp['slurm_array_task_id']}" if fp.get("slurm_array_task_id") else ""
        )
    return where
