"""GPU energy validation: NVML's energy counter against integrated power, over short and long windows.

Runs a steady bf16 GEMM load for windows of 0.1 s … 10 s while the NVML sampler reads at 10 ms, and prints, per
window, the energy from the counter and from the trapezoidal integral of the instant and the averaged power
readings, as ratios to the counter. Also records a real NVML trace (idle → load → idle) with ``NvmlRecorder`` for
the CPU tests' fixtures.

    python benchmarks/nvml_validation.py --out OUTDIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness.measure.energy import energy_sources
from harness.measure.samplers.nvml import NvmlRecorder, NvmlSampler
from harness.records import RunClock


def load(seconds: float) -> None:
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(4):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()


def window(seconds: float, interval_ms: float = 10.0) -> dict[str, float | None]:
    clock = RunClock()
    sampler = NvmlSampler(clock, interval_ms=interval_ms, visible_gpus="0")
    sampler.start()
    time.sleep(0.3)  # let the averaged reading settle at idle, as a real point's sampler would start
    a = clock.now_ns()
    load(seconds)
    b = clock.now_ns()
    time.sleep(0.05)
    tl = sampler.stop()
    from harness.measure.counters import cumulative_counter, integrated_power

    counter = cumulative_counter(tl, "gpu0_energy_mj", 1e-3)
    instant = integrated_power(tl, "gpu0_power_w")
    average = integrated_power(tl, "gpu0_power_avg_w")
    e_counter = counter(a, b) if counter else None
    e_instant = instant(a, b) if instant else None
    e_average = average(a, b) if average else None
    return {
        "window_s": (b - a) / 1e9,
        "counter_j": e_counter,
        "instant_j": e_instant,
        "average_j": e_average,
        "instant_over_counter": e_instant / e_counter if e_counter and e_instant else None,
        "average_over_counter": e_average / e_counter if e_counter and e_average else None,
        "samples": len(tl.t_ns),
        "missing": tl.missing,
        "sources": sorted(energy_sources([tl])),
    }


def record_trace(path: Path) -> None:
    import pynvml

    recorder = NvmlRecorder(pynvml)
    clock = RunClock()
    sampler = NvmlSampler(clock, interval_ms=50, visible_gpus="0", backend=recorder)
    sampler.start()
    time.sleep(1.0)
    load(1.0)
    time.sleep(1.0)
    tl = sampler.stop()
    recorder.save(path)
    (path.with_suffix(".timeline.json")).write_text(tl.model_dump_json())
    print(f"recorded {len(recorder.calls)} NVML calls, {len(tl.t_ns)} ticks, missing: {tl.missing}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    load(2.0)  # warm the GPU and cuBLAS
    record_trace(args.out / "nvml_trace_h100.json")
    rows = []
    for seconds in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0):
        row = window(seconds)
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}))
    (args.out / "counter_vs_power.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
