"""Lateness as the server judged it, beside the generator's own, and steady-state against whole-window throughput.

The fake server (pinned to one core) stamps each request's arrival (``t_arrival_ns``); the generator (pinned to the
other) stamps its send after the write. For each constant rate and trial: own send lag p50/p99 (t_send − t_sched)
beside arrival lag p50/p99 (t_arrival − t_sched), from ``window_metrics``. Then one short closed-loop window whose
drain (one request's 175 ms) is a large part of it: whole-window output tok/s beside the steady window's, as a ratio.

    python benchmarks/lateness_judged.py --rates 1000 3000 --trials 3 --seconds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen_capacity import Server  # noqa: E402
from harness.loadgen.client import LoadGenerator, run_sync  # noqa: E402
from harness.loadgen.http import ClientConfig, Prepared, Target, build_body, build_request  # noqa: E402
from harness.metrics.window import window_metrics  # noqa: E402
from harness.workload.arrivals import build_schedule  # noqa: E402


def window(url: str, schedule, n: int, out_tokens: int, warm: int) -> dict:  # noqa: ANN001
    cfg = ClientConfig(url=url, model="fake", warm_connections=warm, request_timeout_s=30)
    data = build_request(cfg, Target.parse(url), build_body(cfg, "w w w w", out_tokens))
    gen = LoadGenerator(cfg, 0)
    return window_metrics(run_sync(lambda: gen.run(schedule, [Prepared(data, 4)] * n)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", type=float, nargs="+", default=[1000.0, 3000.0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--server-cpu", type=int, default=1)
    ap.add_argument("--client-cpu", type=int, default=0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.client_cpu})
    server = Server(args.server_cpu, 0.0, 0.0)
    try:
        print("rate req/s | own p50 ms | server p50 ms | own p99 ms | server p99 ms | errors   (median of trials)")
        for rate in args.rates:
            n = int(rate * args.seconds)
            rows = [
                window(server.url, build_schedule("constant", n, rate=rate), n, 16, min(max(int(rate * 0.05), 8), 512))
                for _ in range(args.trials)
            ]
            med = {k: statistics.median(r[k] or 0.0 for r in rows) for k in rows[0] if k.endswith(("_p50", "_p99"))}
            errors = sum(int(r["error_count"] or 0) for r in rows)
            print(
                f"{rate:10.0f} | {med['send_lag_ms_p50']:10.3f} | {med['arrival_lag_ms_p50']:13.3f} | "
                f"{med['send_lag_ms_p99']:10.3f} | {med['arrival_lag_ms_p99']:13.3f} | {errors}"
            )
        slow = Server(args.server_cpu, 20.0, 5.0)
        try:
            m = window(slow.url, build_schedule("constant", 50, rate=100.0), 50, 32, 16)
        finally:
            slow.stop()
        whole, steady = m["output_throughput_tok_s"], m["steady_output_throughput_tok_s"]
        if whole is None or steady is None:
            print(f"no steady state in this window ({m['error_count']:.0f} errors)")
            return
        print(
            f"50 requests at 100 req/s, 32 tokens, ttft 20 ms, itl 5 ms: whole {whole:.0f} tok/s, steady "
            f"{steady:.0f} tok/s (steady / whole = {steady / whole:.2f}), steady window {m['steady_window_s']:.3f} s "
            f"of {m['window_s']:.3f} s"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
