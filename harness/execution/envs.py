"""Engine environments: a virtual environment the harness builds from a requirement list, once, and reuses.

Engines pin conflicting versions (vLLM pins torch and transformers), so a suite may run an engine group in its own
environment. The runner starts that group's worker (``python -m harness.execution.worker``) with the environment's
interpreter and the harness source on ``PYTHONPATH``; the worker needs only the few pure dependencies listed in
``WORKER_DEPS``.

An environment lives under ``<cache>/envs/<hash>``, the hash of its spec (requirements, uninstalls, base
interpreter, builder version), so the same spec is built once per machine and shared by every suite naming it.
Building is locked (one builder per spec) and marked complete only at the end: an interrupted build (Ctrl-C,
SIGTERM, even SIGKILL of the harness) is removed and redone by the next build; its pip dies with the harness.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.lifeline import die_with_parent
from harness.models.embedded import cache_root

BUILDER_VERSION = 1
# What harness.execution.worker imports besides the standard library (pure wheels; engines usually bring them already).
WORKER_DEPS = ("pydantic>=2.6", "pyyaml>=6", "numpy>=1.26", "filelock>=3.12")
MARKER = "harness-env.json"


class EnvBuildError(Exception):
    """The environment could not be built; the message is one line (pip's own reason where it gave one)."""


def _interpreter_id(python: str) -> str:
    """One name per interpreter: ``venv/bin/python`` and ``venv/bin/python3`` are the same base interpreter."""
    return os.path.realpath(shutil.which(python) or python)


def env_key(requirements: list[str], uninstall: list[str], base_python: str) -> str:
    spec = {
        "requirements": sorted(requirements),
        "uninstall": sorted(uninstall),
        "python": _interpreter_id(base_python),
        "builder": BUILDER_VERSION,
        "worker_deps": list(WORKER_DEPS),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def env_dir(requirements: list[str], uninstall: list[str], base_python: str, cache_dir: Path | None = None) -> Path:
    return cache_root(cache_dir) / "envs" / env_key(requirements, uninstall, base_python)


def env_python(path: Path) -> Path:
    return path / "bin" / "python"


def is_built(path: Path) -> bool:
    return (path / MARKER).exists() and env_python(path).exists()


def _pip_reason(log: Path) -> str:
    """The line of pip's output that says why it failed (``ERROR: …``), else its last line."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no build log"
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    return (errors[0] if errors else lines[-1] if lines else "pip printed nothing")[:300]


def _step(cmd: list[str], log: Path, what: str, timeout_s: float) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            code = subprocess.run(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                preexec_fn=die_with_parent(),  # pip stops with the harness, even on SIGKILL: no orphan writes here
            ).returncode
        except subprocess.TimeoutExpired:
            raise EnvBuildError(f"{what} timed out after {timeout_s:.0f}s (log: {log})") from None
        except OSError as exc:
            raise EnvBuildError(f"{what}: cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if code != 0:
        raise EnvBuildError(f"{what} failed: {_pip_reason(log)} (log: {log})")


def _build(path: Path, base: str, requirements: list[str], uninstall: list[str], timeout_s: float) -> list[str]:
    """Create the venv, install, uninstall; returns ``pip freeze``. Steps log to ``<hash>.build.log``."""
    build_log = path.parent / f"{path.name}.build.log"
    build_log.write_text("")
    _step([base, "-m", "venv", str(path)], build_log, "creating the virtual environment", 300)
    python = str(env_python(path))
    install = [python, "-m", "pip", "install", "-q", *requirements, *WORKER_DEPS]
    _step(install, build_log, f"pip install {' '.join(requirements)}", timeout_s)
    if uninstall:
        removal = [python, "-m", "pip", "uninstall", "-q", "-y", *uninstall]
        _step(removal, build_log, f"pip uninstall {' '.join(uninstall)}", 300)
    freeze = [python, "-m", "pip", "freeze", "--all"]
    return subprocess.run(freeze, capture_output=True, text=True, timeout=120).stdout.split()


def ensure_env(
    requirements: list[str],
    uninstall: list[str] | None = None,
    base_python: str | None = None,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    timeout_s: float = 1800,
    retry_failed: bool = True,
) -> Path:
    """The interpreter of the environment for this spec, building the environment first if it is not built yet.

    A failed build leaves ``<hash>.failed`` with its reason; ``retry_failed=False`` raises that reason at once
    instead of building again (tests after a CI step that could not build it: no index, no second long wait).
    """
    from filelock import FileLock

    uninstall = list(uninstall or [])
    base = base_python or sys.executable
    path = env_dir(requirements, uninstall, base, cache_dir)
    if is_built(path):
        return env_python(path)
    failed = path.parent / f"{path.name}.failed"
    if not retry_failed and failed.exists():
        raise EnvBuildError(f"an earlier build failed: {failed.read_text().strip()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if is_built(path):  # another process built it while we waited
            return env_python(path)
        if path.exists():  # a build that did not finish
            shutil.rmtree(path)
        say = log or (lambda _msg: None)
        say(
            f"building engine environment {path.name} ({', '.join(requirements)}); first time only, this takes "
            "a few minutes"
        )
        started = time.monotonic()
        try:
            freeze = _build(path, base, requirements, uninstall, timeout_s)
        except BaseException as exc:
            shutil.rmtree(path, ignore_errors=True)
            if isinstance(exc, EnvBuildError):
                failed.write_text(str(exc) + "\n")
            raise
        failed.unlink(missing_ok=True)
        seconds = round(time.monotonic() - started, 1)
        marker: dict[str, Any] = {
            "requirements": requirements,
            "uninstall": uninstall,
            "base_python": base,
            "build_seconds": seconds,
            "packages": freeze,
            "built_at": time.time(),
        }
        (path / MARKER).write_text(json.dumps(marker, indent=2))
        say(f"built engine environment {path.name} in {seconds:.0f}s: {path}")
    return env_python(path)


def env_info(python: str) -> dict[str, Any]:
    """What a harness-built environment records about its build (empty for any other interpreter)."""
    marker = Path(python).parent.parent / MARKER
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return {
        "env_path": str(marker.parent),
        "env_build_seconds": data.get("build_seconds"),
        "env_requirements": data.get("requirements"),
        "env_uninstall": data.get("uninstall"),
    }
