"""The machine's own floor for ``loadgen_capacity.py``: the plainest client one could write, to read ours against.

A fixed pool of threads, each with one persistent blocking socket (``TCP_NODELAY``): a thread takes the next
scheduled request, sleeps until it is due, ``sendall``s its prebuilt bytes and reads the streamed reply to its
terminating chunk. No event loop, and no parsing beyond finding the end and the server's ``t_arrival_ns``: it
stamps nothing per token, so it measures no TTFT or ITL. What it sustains, and the lag the server sees, is what
this machine and server give a client that only moves the bytes; the distance from it to ours is the price of
measuring every chunk (ours parses and stamps each SSE event) and, for sessions, of waiting for each reply before
the next turn (the floor, like vllm bench, sends every turn as an independent request).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from urllib.parse import urlsplit

ARRIVAL = re.compile(rb'"t_arrival_ns":(\d+)')
END = b"\r\n0\r\n\r\n"


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_reply(sock: socket.socket) -> tuple[bool, int | None]:
    """Read one chunked reply whole; (status 200, the server's arrival stamp)."""
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    found = ARRIVAL.search(data)
    return data.startswith(b"HTTP/1.1 200"), int(found.group(1)) if found else None


def run_floor(url: str, offsets_ns: list[int], requests: list[bytes], threads: int) -> list[dict]:
    """Send ``requests[i]`` at ``start + offsets_ns[i]``; one dict per request: t_sched, t_send, t_arrival, ok."""
    lock = threading.Lock()
    next_index = 0
    out: list[dict] = [{} for _ in offsets_ns]
    start = time.monotonic_ns() + int(0.05e9)

    def worker() -> None:
        nonlocal next_index
        sock = _connect(url)
        try:
            while True:
                with lock:
                    i = next_index
                    next_index += 1
                if i >= len(offsets_ns):
                    return
                due = start + offsets_ns[i]
                gap = due - time.monotonic_ns()
                if gap > 0:
                    time.sleep(gap / 1e9)
                t_send = time.monotonic_ns()
                try:
                    sock.sendall(requests[i])
                    ok, arrival = _read_reply(sock)
                except OSError as exc:
                    out[i] = {"t_sched": due, "t_send": t_send, "t_arrival": None, "ok": False, "error": str(exc)}
                    sock.close()
                    sock = _connect(url)
                    continue
                out[i] = {"t_sched": due, "t_send": t_send, "t_arrival": arrival, "ok": ok}
        finally:
            sock.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)  # bounded: a trial is seconds long; a stuck thread leaves its requests unanswered
    return out
