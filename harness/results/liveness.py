"""Whether the process driving a ``running`` run is still there. A run whose driver was killed (kill -9, a lost
machine, a CI job cancelled without a grace period) never marks itself interrupted; shown as ``running`` it would
look alive for ever. The driver records itself in the run's fingerprint (``harness_process``: host, pid, process
start time); on that host a run whose driver process is gone, or whose pid now belongs to another process, is ``stale``.
On another host nothing can be told, and the stored status is shown."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

DRIVER_KEY = "harness_process"  # not "driver": a fingerprint's "driver" is the GPU driver
STALE = "stale"
_START_SLACK_S = 1.0  # create_time is a float read off /proc; the same process reads the same value


def this_driver() -> dict[str, Any]:
    """This process as a run's driver."""
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(), "started_at": psutil.Process().create_time()}


def shown_status(run: Mapping[str, Any]) -> str:
    """The run's status as a reader should see it: ``stale`` for a ``running`` run whose driver is gone."""
    status = str(run["status"])
    driver = (run.get("fingerprint") or {}).get(DRIVER_KEY)
    if status != "running" or not isinstance(driver, dict) or driver.get("host") != socket.gethostname():
        return status
    import psutil

    try:
        started = psutil.Process(int(driver["pid"])).create_time()
    except (psutil.NoSuchProcess, KeyError, TypeError, ValueError):
        return STALE
    except psutil.AccessDenied:  # another user's live process: it exists
        return status
    return status if abs(started - float(driver.get("started_at") or 0)) <= _START_SLACK_S else STALE
