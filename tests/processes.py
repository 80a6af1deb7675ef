"""Helpers for tests that kill the harness: the processes of a run (watched while it runs) and bounded waits."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll ``check`` until it returns something true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def living(proc: psutil.Process) -> bool:
    """Running and not a zombie; False once it is gone (never raises)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Family:
    """Every process of one harness run: the CLI's descendants as seen on each ``look()`` (a launched server
    appears late), and any process whose environment names the run's log folder (``HARNESS_LOG_PATH``, which the
    worker and everything it starts inherit), so that a process re-parented to init is found as well."""

    def __init__(self, root_pid: int, log_dir: Path) -> None:
        self.root_pid = root_pid
        self.log_dir = str(log_dir)
        self.seen: dict[int, psutil.Process] = {}  # pid → the process (psutil compares creation times)
        self.commands: dict[int, str] = {}  # pid → its command line, as seen while it ran

    def look(self) -> list[psutil.Process]:
        try:
            family = [psutil.Process(self.root_pid), *psutil.Process(self.root_pid).children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            family = []
        for p in family:
            self.seen.setdefault(p.pid, p)
            try:  # read again on every look: a child seen between fork and exec still shows its parent's command
                self.commands[p.pid] = " ".join(p.cmdline()) or self.commands.get(p.pid, "")
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return list(self.seen.values())

    def cmdlines(self) -> list[str]:
        """The command line of every process seen so far (alive or not)."""
        self.look()
        return list(self.commands.values())

    def _by_environment(self) -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            try:
                if p.environ().get("HARNESS_LOG_PATH", "").startswith(self.log_dir):
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def alive(self) -> list[psutil.Process]:
        everyone = {p.pid: p for p in [*self.seen.values(), *self._by_environment()]}
        return [p for p in everyone.values() if living(p)]

    def describe(self, procs: list[psutil.Process]) -> str:
        rows = []
        for p in procs:
            try:
                rows.append(f"{p.pid}: {' '.join(p.cmdline())[:160]}")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                rows.append(f"{p.pid}: ?")
        return "; ".join(rows)

    def wait_all_gone(self, timeout_s: float = 30) -> None:
        try:
            wait_for(lambda: not self.alive(), timeout_s, "every process of the run to exit")
        except AssertionError:
            left = self.alive()
            described = self.describe(left)
            for p in left:  # do not leave them to the next test
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            print(f"\n{len(left)} processes of the run left alive: {described}")
            raise AssertionError(f"{len(left)} processes of the run still alive: {described}") from None


def start_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """The harness CLI in the background, in its own session (the test signals it alone, as CI would)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout_s: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the harness did not exit within {timeout_s:g}s; stderr: {err[-2000:]}") from None
    return proc.returncode, out, err
