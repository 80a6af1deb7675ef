"""Files named by a user (suites, traces, model configs) are read only when they are regular files of a bounded size.

A device (``/dev/zero``), a FIFO or a directory given where a file is expected would otherwise hang the harness or
fill its memory; a file is opened without blocking (a FIFO would block ``open``), checked with ``fstat`` on the open
descriptor (no window between the check and the read) and read up to its limit plus one byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """A named file that is missing, unreadable, not a regular file or too large; the message says which."""


def kind_of(mode: int) -> str:
    """What a file is, for messages: ``a directory``, ``a character device``…"""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a file"


def size_text(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _refuse(mode: int, max_bytes: int, size: int) -> str | None:
    if not stat.S_ISREG(mode):
        return f"not a regular file ({kind_of(mode)})"
    if size > max_bytes:
        return f"larger than {size_text(max_bytes)} ({size_text(size)})"
    return None


def check_regular(path: str | Path, max_bytes: int) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed) of at most ``max_bytes``; else ``FileRefused``
    saying why. Nothing is opened."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FileRefused(exc.strerror or str(exc)) from None
    why = _refuse(st.st_mode, max_bytes, st.st_size)
    if why:
        raise FileRefused(why)
    return st.st_size


def read_head(path: str | Path, n: int) -> bytes:
    """The first ``n`` bytes of ``path``, a regular file of any size (a magic number); else ``FileRefused``."""
    return read_regular(path, n, whole=False)


def read_regular(path: str | Path, max_bytes: int, whole: bool = True) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``; else ``FileRefused`` saying why.
    ``whole=False`` reads the first ``max_bytes`` of a file of any size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused(exc.strerror or str(exc)) from None
    st = os.fstat(fd)
    why = _refuse(st.st_mode, max_bytes if whole else st.st_size, st.st_size)
    if why:
        os.close(fd)
        raise FileRefused(why)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(max_bytes + 1 if whole else max_bytes)
        except OSError as exc:
            raise FileRefused(exc.strerror or str(exc)) from None
    if len(data) > max_bytes:  # it grew while being read
        raise FileRefused(f"larger than {size_text(max_bytes)}")
    return data
