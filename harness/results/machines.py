"""The machine a stored point was measured on (``describe.machine``, written by ``harness.hardware.machine``), and
what of it must match before two points' numbers are paired: CPU model and count, GPUs, driver. The host name and
the cluster node may differ (the same model of machine is the same hardware).
"""

from __future__ import annotations

from typing import Any

MACHINE_KEY = "machine"  # where a point's ``describe`` keeps it


class HardwareMismatch(Exception):
    """Points paired across runs were measured on different hardware; one line naming the first such point."""


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
        array = fp.get("slurm_array_job_id")
        where += f" slurm:{array}_{fp.get('slurm_array_task_id')}" if array else f" slurm:{fp['slurm_job_id']}"
    return where


def check_same_hardware(
    base: tuple[list[dict[str, Any]], dict[str, Any]], cand: tuple[list[dict[str, Any]], dict[str, Any]], what: str
) -> None:
    """``HardwareMismatch`` when a point of both runs (same point id) was measured on different hardware."""
    base_points, base_fp = base
    theirs = {p["point_id"]: p for p in cand[0]}
    for point in base_points:
        other = theirs.get(point["point_id"])
        if other is None:
            continue
        mine, their = point_hardware(point, base_fp), point_hardware(other, cand[1])
        if mine and their and mine != their:
            raise HardwareMismatch(
                f"point {point['label']!r} was measured on different hardware ({mine} vs {their}); {what} pairs only "
                "points of the same hardware: pass --allow-different-hardware to pair them anyway"
            )
