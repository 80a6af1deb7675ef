"""The machine one point was measured on: host, CPU, GPUs, driver, and the cluster node that ran it.

Points of one run may come from several machines (a Ray or Slurm executor places groups by hardware), so each point
keeps its own fingerprint in ``describe.machine``; ``harness.results.machines`` says what of it must match before
two points' numbers are paired by ``harness gate`` and ``harness compare``.
"""

from __future__ import annotations

import os
import socket
import sys
from functools import cache
from typing import Any

import psutil

from harness.measure.fingerprint import _cpu_model, _gpus
from harness.results.machines import MACHINE_KEY

__all__ = ["MACHINE_KEY", "machine"]


def _node() -> dict[str, Any]:
    """The cluster node running this process: Ray's node id inside a Ray task, Slurm's job and node names."""
    node: dict[str, Any] = {}
    if os.environ.get("SLURM_JOB_ID"):
        node["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
        node["slurm_node"] = os.environ.get("SLURMD_NODENAME")
        node["slurm_array_job_id"] = os.environ.get("SLURM_ARRAY_JOB_ID")
        node["slurm_array_task_id"] = os.environ.get("SLURM_ARRAY_TASK_ID")
    # A Ray task runs in a process that imported ray already; importing it here would cost a local run a second
    # per point and change this process's environment (ray sets RAY_CLIENT_MODE), which the warm worker's key reads.
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
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
