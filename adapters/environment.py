"""What this machine offers an engine, asked without loading a model: modules importable by the engine's interpreter
and CUDA devices visible to it. Engines answer ``EngineAdapter.check_environment`` with these; the answers are
cached per interpreter, so a sweep of many points asks once.

The interpreter is the harness's own (asked in process) or another one named by the suite (``python:`` or a built
``env:``), asked in a subprocess.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys

from harness.hints import install_hint

PROBE_TIMEOUT_S = 120
_CUDA_PROBE = (
    "import json\ntry:\n import torch\nexcept ImportError:\n print(json.dumps(None))\nelse:\n"
    " ok = torch.cuda.is_available()\n print(json.dumps([ok, torch.cuda.device_count() if ok else 0]))"
)


def _own(python: str | None) -> bool:
    return python is None or python == sys.executable


@functools.cache
def module_available(module: str, python: str | None = None) -> bool:
    """Whether ``import module`` would find it in ``python`` (None: the harness's interpreter). Nothing is imported
    but the parent packages of a dotted name."""
    if _own(python):
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False
    code = f"import importlib.util,sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return subprocess.run([str(python), "-c", code], capture_output=True, timeout=PROBE_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def missing(modules: tuple[str, ...], python: str | None, hint: str | None = None) -> str | None:
    """``None`` when every module is importable, else the reason naming the first missing one and the install hint
    (``hint``, or the one of ``harness.hints`` for that module)."""
    for module in modules:
        if not module_available(module, python):
            where = "" if _own(python) else f" in {python}"
            return f"{module} is not installed{where}: {hint or install_hint(module)}"
    return None


# a GPU driver's files: without any, torch (CUDA or ROCm build) sees no device, and there is no need to import it
GPU_DRIVER_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")
NO_DRIVER = "no GPU driver on this machine: no /dev/nvidiactl, /proc/driver/nvidia, /dev/kfd or /dev/dxg"


def gpu_driver_present() -> bool:
    return any(os.path.exists(path) for path in GPU_DRIVER_FILES)


@functools.cache
def _cuda_devices(python: str | None) -> int | None:
    """CUDA devices torch sees (0 when none), or None when torch is not importable there."""
    if _own(python):
        if importlib.util.find_spec("torch") is None:
            return None
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    try:
        out = subprocess.run(
            [str(python), "-c", _CUDA_PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        ).stdout
        found = json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return 0
    return None if found is None else int(found[1]) if found[0] else 0


def cuda_problem(device: str, visible_gpus: str | None, python: str | None = None, needed: int = 1) -> str | None:
    """Why ``device`` (``cuda``/``cuda:N``) cannot be used by an engine in ``python`` here, or None (also for CPU).

    ``needed``: the devices the point spans (tensor × pipeline parallel × replicas), counted from ``device``'s."""
    if not device.startswith("cuda"):
        return None
    if not gpu_driver_present():
        return f"device {device}: no CUDA device visible ({NO_DRIVER})"
    count = _cuda_devices(python)
    if count is None:
        return f"device {device}: torch is not installed, so no CUDA device can be seen"
    if count == 0:
        return f"device {device}: no CUDA device visible (torch.cuda.is_available() is False)"
    if visible_gpus and os.environ.get("CUDA_VISIBLE_DEVICES") != visible_gpus:  # not applied yet (not the worker)
        listed = visible_gpus.split(",")
        numbered = [int(g) for g in listed if g.isdigit()]
        if any(g >= count for g in numbered):
            return f"visible_gpus {visible_gpus}: this machine shows {count} CUDA device(s) (0..{count - 1})"
        count = len(listed)
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= count:
        return f"device {device}: {count} CUDA device(s) visible to the engine (cuda:0..cuda:{count - 1})"
    if index + needed > count:
        return (
            f"{needed} CUDA devices needed from {device} (tensor_parallel × pipeline_parallel × replicas), "
            f"{count - index} visible to the engine"
        )
    return None
