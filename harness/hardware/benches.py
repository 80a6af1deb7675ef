"""The microbenchmarks ``harness calibrate`` runs (torch, imported lazily): dense matrix products per dtype, memory
copy bandwidth, host↔device bandwidth and the host's overhead per kernel launch; on CPUs, matmul per dtype and a
STREAM-like copy / triad / read.

Each benchmark warms up, then returns one value per repetition (FLOP/s, bytes/s or seconds); the caller takes the
median and its bootstrap CI. Inputs are random (products of zeros run faster than real data on some GPUs), large
enough to leave the caches (a few times the L2 / L3), and timed with device events on GPUs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GPU_GEMM_N = 8192
CPU_GEMM_N = {"fp32": 1024, "bf16": 512, "fp16": 512, "int8": 512}  # CPUs without bf16/fp16 units crawl at 1024
GPU_COPY_BYTES = 2 * 2**30
GPU_HOST_BYTES = 2**30
CPU_STREAM_ELEMENTS = 64 * 2**20  # 256 MiB per float32 array: well past any L3
REP_SECONDS = 0.05  # each repetition runs at least this long (more iterations for fast kernels)
BUDGET_SECONDS = 20.0  # per benchmark: fewer repetitions (at least 3) when one is slow (fp16 on a CPU)
LAUNCHES = 2000


class Skip(Exception):
    """This benchmark cannot run on this device (a dtype without kernels, a too-old GPU); the message says why."""


@dataclass
class Bench:
    """One benchmark: the figure it yields and how to run it. ``setup`` returns a step and its work (FLOPs or
    bytes per call); a ``per_call`` benchmark reports seconds per unit of work (per launch) instead of a rate."""

    figure: str
    unit: str
    setup: Callable[[], tuple[Callable[[], Any], float]]
    per_call: bool = False


class Timer:
    """Times ``iters`` calls of a step: CUDA events on a GPU, perf_counter after a synchronize elsewhere."""

    def __init__(self, torch: Any, device: Any) -> None:
        self.torch, self.device = torch, device
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def seconds(self, step: Callable[[], Any], iters: int) -> float:
        if self.cuda:
            start, end = (self.torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            for _ in range(iters):
                step()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end)) / 1e3
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        return time.perf_counter() - t0


def run_bench(timer: Timer, bench: Bench, repetitions: int) -> list[float]:
    """Warm up, size the iterations so a repetition lasts ≥ REP_SECONDS, then one value per repetition."""
    step, work = bench.setup()
    for _ in range(2):
        step()
    timer.sync()
    one = max(timer.seconds(step, 1), 1e-7)
    iters = max(1, math.ceil(REP_SECONDS / one))
    reps = max(3, min(repetitions, int(BUDGET_SECONDS / (one * iters))))
    values = []
    for _ in range(reps):
        elapsed = timer.seconds(step, iters)
        values.append(elapsed / (iters * work) if bench.per_call else work * iters / elapsed)
    return values


def _gemm(torch: Any, device: Any, dtype: str, n: int) -> tuple[Callable[[], Any], float]:
    gen = torch.Generator(device=device).manual_seed(0)
    flops = 2.0 * n**3
    if dtype in ("fp8", "int8"):
        if dtype == "fp8" and (device.type != "cuda" or torch.cuda.get_device_capability(device) < (8, 9)):
            raise Skip("fp8 matmul needs a GPU of compute capability 8.9 or newer")
        base = torch.randn((n, n), generator=gen, device=device)
        if dtype == "int8":
            a = (base * 30).clamp(-127, 127).to(torch.int8)
            b = a.t().contiguous().t()  # column-major, as _int_mm's fast path wants
            return (lambda: torch._int_mm(a, b)), flops
        a8 = base.to(torch.float8_e4m3fn)
        b8 = base.t().contiguous().to(torch.float8_e4m3fn).t()
        one = torch.ones((), device=device)
        return (lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)), flops
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "tf32": torch.float32}[dtype]
    a = torch.randn((n, n), generator=gen, device=device).to(torch_dtype)
    b = torch.randn((n, n), generator=gen, device=device).to(torch_dtype)
    out = torch.empty((n, n), device=device, dtype=torch_dtype)
    precision = "high" if dtype == "tf32" else "highest"  # float32 products: TF32 allowed or not

    def step() -> Any:
        torch.set_float32_matmul_precision(precision)
        return torch.matmul(a, b, out=out)

    return step, flops


def gemm_bench(torch: Any, device: Any, dtype: str) -> Bench:
    n = GPU_GEMM_N if device.type == "cuda" else CPU_GEMM_N[dtype]
    return Bench(f"gemm_{dtype}_flops_s", "FLOP/s", lambda: _gemm(torch, device, dtype, n))


def gpu_benches(torch: Any, device: Any) -> list[Bench]:
    """Matrix products in every dtype, device copy, host↔device copies and launch overhead."""

    def copy() -> tuple[Callable[[], Any], float]:
        src = torch.rand(GPU_COPY_BYTES // 4, device=device)
        dst = torch.empty_like(src)
        return (lambda: dst.copy_(src)), 2.0 * GPU_COPY_BYTES  # read + written

    def h2d() -> tuple[Callable[[], Any], float]:
        host = torch.rand(GPU_HOST_BYTES // 4).pin_memory()
        dev = torch.empty(GPU_HOST_BYTES // 4, device=device)
        return (lambda: dev.copy_(host, non_blocking=True)), float(GPU_HOST_BYTES)

    def d2h() -> tuple[Callable[[], Any], float]:
        dev = torch.rand(GPU_HOST_BYTES // 4, device=device)
        host = torch.empty(GPU_HOST_BYTES // 4).pin_memory()
        return (lambda: host.copy_(dev, non_blocking=True)), float(GPU_HOST_BYTES)

    return [
        *(gemm_bench(torch, device, d) for d in ("bf16", "fp16", "tf32", "fp32", "fp8", "int8")),
        Bench("copy_bytes_s", "bytes/s", copy),
        Bench("h2d_bytes_s", "bytes/s", h2d),
        Bench("d2h_bytes_s", "bytes/s", d2h),
        Bench("launch_overhead_s", "s", lambda: _launches(torch, device), per_call=True),
    ]


def _launches(torch: Any, device: Any) -> tuple[Callable[[], Any], float]:
    """LAUNCHES tiny kernels per call, so one call's time ÷ LAUNCHES is the host's cost of one launch."""
    x = torch.zeros(1, device=device)

    def step() -> None:
        for _ in range(LAUNCHES):
            x.add_(1.0)

    return step, float(LAUNCHES)


def cpu_benches(torch: Any, device: Any) -> list[Bench]:
    """Matmul per dtype and STREAM-like copy, triad (a = b + s·c) and read (a sum): bytes counted as moved."""
    n = CPU_STREAM_ELEMENTS

    def arrays(k: int) -> list[Any]:
        return [torch.rand(n) for _ in range(k)]

    def stream_copy() -> tuple[Callable[[], Any], float]:
        a, b = arrays(2)
        return (lambda: b.copy_(a)), 2.0 * 4 * n

    def stream_triad() -> tuple[Callable[[], Any], float]:
        a, b, c = arrays(3)
        return (lambda: torch.add(b, c, alpha=3.0, out=a)), 3.0 * 4 * n

    def stream_read() -> tuple[Callable[[], Any], float]:
        (a,) = arrays(1)
        return (lambda: a.sum()), 4.0 * n

    return [
        *(gemm_bench(torch, device, d) for d in ("fp32", "bf16", "fp16", "int8")),
        Bench("stream_copy_bytes_s", "bytes/s", stream_copy),
        Bench("stream_triad_bytes_s", "bytes/s", stream_triad),
        Bench("stream_read_bytes_s", "bytes/s", stream_read),
        Bench("launch_overhead_s", "s", lambda: _launches(torch, device), per_call=True),
    ]
