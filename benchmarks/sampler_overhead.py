"""Sampler overhead: a CPU point's output throughput with every available sampler at 100 Hz against none.

The engine runs in its worker process exactly as in a sweep, and the samplers in this (the runner's) process.
Batches alternate between "no sampler" and "all samplers" so that drift in the machine hits both alike; the ratio of
the medians is printed, with a bootstrap CI.

    python benchmarks/sampler_overhead.py [--batches 30] [--interval-ms 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.execution.engine_process import EngineProcess
from harness.execution.protocol import LoadRequest, WindowReply, WindowRequest
from harness.measure.samplers import SAMPLERS, sampler_class
from harness.metrics import window_metrics
from harness.plan.points import EngineConfig, WorkloadConfig
from harness.records import RunClock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30, help="measured batches per arm")
    parser.add_argument("--interval-ms", type=float, default=10.0, help="10 ms = 100 Hz")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--model", default="embedded:tiny-llama")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=2, help="engine threads (2: every core, as the smoke suite runs; 1 leaves one)"
    )
    args = parser.parse_args()

    engine = EngineConfig(
        adapter="hf",
        model=args.model,
        dtype=args.dtype,
        quantization="none",
        device=args.device,
        threads=args.threads,
        visible_gpus=None,
        args={},
    )
    workload = WorkloadConfig(
        input_tokens=64, output_tokens=args.output_tokens, batch_size=args.batch_size, num_batches=1, seed=0
    )
    clock = RunClock()
    worker = EngineProcess(engine, Path(tempfile.mkdtemp()) / "worker.log")
    worker.request(LoadRequest(engine=engine, clock_origin_ns=clock.origin_ns), 300)
    available = []
    for name in SAMPLERS.names():
        cls = sampler_class(name)
        ok, why = cls.available()
        if name == "codecarbon":
            continue  # not a fixed-rate sampler; its own interval is ≥ 1 s
        print(f"sampler {name}: {'on' if ok else 'unavailable — ' + why}")
        if ok:
            available.append(cls)

    def batch(with_samplers: bool) -> float:
        samplers = (
            [cls(clock, interval_ms=args.interval_ms, target_pid=worker.pid) for cls in available]
            if with_samplers
            else []
        )
        for s in samplers:
            s.start()
        reply = worker.request(WindowRequest(workload=workload, warmup=False, repetition=0), 300)
        assert isinstance(reply, WindowReply)
        ticks = [len(s.stop().t_ns) for s in samplers]
        if with_samplers:
            ticks_seen.append(sum(ticks))
        return window_metrics(reply.records)["output_throughput_tok_s"] or 0.0

    ticks_seen: list[int] = []
    for _ in range(3):
        batch(False)
    off, on = [], []
    started = time.perf_counter()
    for i in range(2 * args.batches):
        (on if i % 2 else off).append(batch(bool(i % 2)))
    worker.close()
    ratio = statistics.median(on) / statistics.median(off)
    rng = np.random.default_rng(0)
    boots = [np.median(rng.choice(on, len(on))) / np.median(rng.choice(off, len(off))) for _ in range(2000)]
    low, high = np.quantile(boots, [0.025, 0.975])
    print(f"baseline (no sampler):   median {statistics.median(off):8.1f} tok/s over {len(off)} batches")
    print(
        f"all samplers @ {1000 / args.interval_ms:.0f} Hz: median {statistics.median(on):8.1f} tok/s over "
        f"{len(on)} batches ({statistics.mean(ticks_seen):.0f} readings per batch)"
    )
    print(
        f"throughput ratio (samplers / none): {ratio:.4f}  95% CI [{low:.4f}, {high:.4f}]  "
        f"overhead {100 * (1 - ratio):+.2f}%   ({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
