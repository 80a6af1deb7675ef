"""Shared fixtures: a real third-party plugin install, the CLI as a subprocess, an isolated model cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SRC = ROOT / "tests" / "plugins" / "harness_echo_engine"
RELEASED_STORE = ROOT / "tests" / "fixtures" / "store-0.1.0.db"


@pytest.fixture
def released_store(tmp_path: Path) -> Path:
    """A copy of a store written by release 0.1.0 (before the layout change): offline HF points with fidelity,
    a serving sweep on the fake server and an SLO search; the offline run is tagged ``main``."""
    import shutil

    target = tmp_path / "released.db"
    shutil.copyfile(RELEASED_STORE, target)
    return target


@pytest.fixture(scope="session")
def echo_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The echo engine installed by pip into its own folder, as a third-party package would be."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(PLUGIN_SRC),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture
def cli_env(echo_plugin: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(echo_plugin), env.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "200"  # wide, so tests can find text on one line; tests/test_terminal.py runs at 80 and 120
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
