"""Who may read what the harness writes: stores, logs, reports, bundles and exports hold a machine's details and
a suite's text, so they are private unless the user's umask asks for a shared group.

The rule (applied once by the ``harness`` command to its own process, and so to its workers and launched servers):

* a umask that leaves **group write** open (``002``, ``007``, ``000``: the convention for shared project folders)
  keeps the group's access and removes everyone else's: files ``0660``, folders ``0770``;
* any other umask (the usual ``022``, ``027``, ``077``) makes them private: files ``0600``, folders ``0700``.

Others never get access. Files that exist already keep their modes.
"""

from __future__ import annotations

import os

PRIVATE = 0o077
GROUP_SHARED = 0o007


def harness_umask(current: int) -> int:
    """The umask the harness works under, given the user's ``current`` one."""
    shared = not current & 0o020
    return current | (GROUP_SHARED if shared else PRIVATE)


def apply_umask() -> int:
    """Set this process's umask by the rule above; returns it."""
    current = os.umask(PRIVATE)
    mask = harness_umask(current)
    os.umask(mask)
    return mask
