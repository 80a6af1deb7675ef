"""SSE parsing is linear: one large event fed in socket-sized reads against ``json.loads`` of the same data.

A fault-injection pass found a 64 MB event took 14 s to parse (each read re-copied and re-searched the whole
buffer). This prints, measured in the same run: the feed time of an event of ``--mb`` MB read in ``--read-kib``
pieces divided by ``json.loads`` of its payload (the work that cannot be avoided), the time ratio of that event to
one 8× smaller (≈ 8 when linear, ≈ 64 when quadratic), and how long a 64 MB event (over ``MAX_EVENT_BYTES``)
takes to be refused.

    python benchmarks/sse_parse.py [--mb 12] [--read-kib 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from harness.loadgen.http import Prepared
from harness.loadgen.sse import MAX_EVENT_BYTES, Exchange


def event(n_bytes: int) -> tuple[bytes, bytes]:
    payload = json.dumps({"choices": [{"text": "x" * n_bytes}]}).encode()
    return payload, b"data: " + payload + b"\n\n"


def feed_s(stream: bytes, read: int) -> tuple[float, Exchange]:
    ex = Exchange(0, 0, Prepared(b"", 1), lambda _ex: None)
    t0 = time.perf_counter()
    for i in range(0, len(stream), read):
        ex.feed(stream[i : i + read], 0)
    return time.perf_counter() - t0, ex


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=12.0, help="event size (below the 16 MiB limit)")
    parser.add_argument("--read-kib", type=int, default=64, help="bytes per socket read")
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    size, read = int(a.mb * 2**20), a.read_kib * 1024
    if size >= MAX_EVENT_BYTES:
        parser.error(f"--mb must stay below MAX_EVENT_BYTES ({MAX_EVENT_BYTES / 2**20:g} MiB)")
    big_payload, big = event(size)
    _, small = event(size // 8)
    loads, feed, feed_small = [], [], []
    for _ in range(a.rounds):  # interleaved, so drift in a shared machine hits every arm alike
        t0 = time.perf_counter()
        json.loads(big_payload)
        loads.append(time.perf_counter() - t0)
        seconds, ex = feed_s(big, read)
        assert ex.error is None and len(ex.texts[0]) == size, ex.error
        feed.append(seconds)
        feed_small.append(feed_s(small, read)[0])
    _, huge = event(64 * 2**20)
    refuse_s, ex = feed_s(huge, read)
    assert ex.error is not None and "limit" in ex.error
    med = statistics.median
    print(f"event {size / 2**20:.1f} MiB in {a.read_kib} KiB reads, median of {a.rounds} rounds")
    print(f"  feed {med(feed):.3f} s, json.loads {med(loads):.3f} s: ratio {med(feed) / med(loads):.2f}")
    print(f"  feed of 8x the size / feed of 1x: ratio {med(feed) / med(feed_small):.2f} (linear ≈ 8, quadratic ≈ 64)")
    print(f"  a 64 MiB event is refused in {refuse_s:.3f} s: {ex.error}")


if __name__ == "__main__":
    main()
