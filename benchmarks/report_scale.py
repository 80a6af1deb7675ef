"""Scale of `harness report`: a synthesized 1,000-point run (repetitions, requests, psutil+nvml samples, energy,
SLO, fidelity), written through the real store API with every figure computed by the harness's own formulas, then
the report's size and its time-to-interactive in headless Chromium.

    python benchmarks/report_scale.py [--points 1000] [--loads 3] [--keep DIR]

Time-to-interactive (TTI), measured over CDP from the navigation's start: the latest of (a) the load event's end,
(b) the page's ``report-first-screen`` mark (every plot in the first viewport drawn), (c) the end of the last long
task (≥ 50 ms, PerformanceObserver ``longtask``) before the main thread stayed free of long tasks for 1 s. "All
plots drawn": a fresh load that asks for every plot at DOMContentLoaded (the page's ``#all`` mode: no laziness),
until the ``report-all-drawn`` mark. The ratio line compares TTI of the lazy page with the eager (``#all``) page,
both measured in this run. Medians over ``--loads`` loads.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import __version__
from harness.measure.energy import energy_figures
from harness.measure.fingerprint import fingerprint
from harness.metrics import WindowSLO, aggregate_repetitions, window_metrics
from harness.plan.points import stable_hash
from harness.records import RequestRecord, Timeline
from harness.results.store import AGGREGATE, PointResult, Store

QUANT = {  # name: (decode speed-up, mean KL, top-1 agreement, weight bytes factor)
    "none": (1.0, 0.0, 1.0, 1.0),
    "int8_weight_only": (1.35, 0.002, 0.985, 0.5),
    "fp8": (1.5, 0.006, 0.97, 0.5),
    "nf4": (1.2, 0.02, 0.93, 0.28),
    "int4_weight_only": (1.6, 0.03, 0.91, 0.26),
}
SLO = WindowSLO(ttft_ms=500, tpot_ms=60)
SUITE = """\
name: synthetic-scale
# synthesized by benchmarks/report_scale.py: {n} points (models × quantization × batch_size × rate)
engines:
  - adapter: hf
    model: [embedded:tiny-llama, embedded:smollm2-135m]
    quantization: [none, int8_weight_only, fp8, nf4, int4_weight_only]
workload: {{input_tokens: 128, output_tokens: 32, batch_size: [1, 2, 4, 8, 16]}}
repetitions: 3
samplers: [psutil, nvml]
slo: {{ttft_ms: 500, tpot_ms: 60}}
fidelity: true
"""


def _simulate(
    rng: np.random.Generator, t0: int, model_i: int, quant: str, batch: int, rate: float, n_out: int = 32
) -> list[RequestRecord]:
    """An open-loop stream of requests at ``rate`` req/s into a server with ``batch`` slots."""
    speed = QUANT[quant][0]
    prefill_s = 0.012 * (1 + model_i) * (1 + 0.04 * batch) * rng.lognormal(0, 0.03)
    step_s = 0.006 * (1 + model_i) * (1 + 0.03 * batch) / speed * rng.lognormal(0, 0.03)
    n = min(24, 8 + batch // 2)
    free = [t0 / 1e9] * batch
    records = []
    for i in range(n):
        sched = t0 / 1e9 + i / rate
        slot = int(np.argmin(free))
        start = max(sched, free[slot])
        first = start + prefill_s
        chunks = [first + k * step_s * rng.lognormal(0, 0.02) for k in range(n_out)]
        chunks = list(np.maximum.accumulate(chunks))
        free[slot] = chunks[-1]
        ns = [int(c * 1e9) for c in chunks]
        records.append(
            RequestRecord(
                index=i,
                t_sched_ns=int(sched * 1e9),
                t_send_ns=int(sched * 1e9),
                t_first_ns=ns[0],
                t_end_ns=ns[-1],
                chunk_times_ns=ns,
                chunk_tokens=[1] * n_out,
                n_in=128,
                n_out=n_out,
            )
        )
    return records


def _timelines(
    rng: np.random.Generator, records: list[RequestRecord], batch: int, quant: str, interval_ms: int = 100
) -> list[Timeline]:
    start = min(r.t_sched_ns for r in records) - 100_000_000
    end = max(r.t_end_ns for r in records) + 100_000_000
    t = list(range(start, end, interval_ms * 1_000_000))
    busy = np.array([sum(1 for r in records if r.t_send_ns <= x <= r.t_end_ns) for x in t], dtype=float)
    load = np.minimum(busy / batch, 1.0)
    power = 70 + 320 * load * rng.lognormal(0, 0.02, len(t))
    energy_mj = np.concatenate([[5e6], 5e6 + np.cumsum(power[1:] * np.diff(t) / 1e6)])
    weights = 2.7e8 * QUANT[quant][3]
    psutil = Timeline(
        sampler="psutil",
        t_ns=t,
        values={
            "rss_bytes": list(1.2e9 + weights + 2e6 * busy * rng.lognormal(0, 0.01, len(t))),
            "cpu_pct": list(np.clip(20 + 80 * load + rng.normal(0, 3, len(t)), 0, 100)),
        },
    )
    nvml = Timeline(
        sampler="nvml",
        t_ns=t,
        values={
            "gpu0_power_w": list(power),
            "gpu0_energy_mj": list(energy_mj),
            "gpu0_mem_used_bytes": list(2e9 + weights + 3e7 * busy),
            "gpu0_util_gpu_pct": list(np.clip(100 * load, 0, 100)),
        },
    )
    return [psutil, nvml]


def synthesize(
    store: Store,
    models: int = 2,
    quantizations: int = 5,
    batch_sizes: int = 10,
    rates: int = 10,
    repetitions: int = 3,
    seed: int = 0,
    failures: bool = True,
) -> str:
    """A run of models × quantizations × batch_sizes × rates points, stored point by point like a real sweep."""
    rng = np.random.default_rng(seed)
    quants = list(QUANT)[:quantizations]
    batches = [2**i for i in range(batch_sizes)]
    rate_values = [round(2 * 1.5**i, 2) for i in range(rates)]
    model_names = ["embedded:tiny-llama", "embedded:smollm2-135m", "embedded:llama-1b"][:models]
    n = models * quantizations * batch_sizes * rates
    fp = fingerprint()
    fp["gpus"] = [{"index": 0, "name": "synthetic GPU", "uuid": "GPU-synthetic", "memory_total_bytes": 80 * 2**30}]
    run_id = store.create_run(
        "synthetic-scale", stable_hash({"n": n, "seed": seed}), SUITE.format(n=n), fp, __version__
    )
    clock = 0
    idx = 0
    for mi, model in enumerate(model_names):
        for quant in quants:
            engine = {
                "adapter": "hf",
                "model": model,
                "dtype": "bfloat16",
                "quantization": quant,
                "device": "cuda",
                "threads": None,
                "visible_gpus": None,
                "args": {},
                "python": None,
            }
            for batch in batches:
                for rate in rate_values:
                    axes = {"model": model, "quantization": quant, "batch_size": batch, "rate": rate}
                    config = {
                        "engine": engine,
                        "workload": {
                            "kind": "offline_batch",
                            "input_tokens": 128,
                            "output_tokens": 32,
                            "batch_size": batch,
                            "num_batches": 1,
                            "seed": 0,
                        },
                        "repetitions": repetitions,
                        "warmup": 1,
                        "timeout_s": 300,
                    }
                    point_id = stable_hash({"config": config, "rate": rate})
                    label = " ".join(f"{k}={v}" for k, v in axes.items())
                    row = {
                        "point_id": point_id,
                        "idx": idx,
                        "group_id": stable_hash(engine),
                        "label": label,
                        "axes": axes,
                        "config": config,
                        "status": "ok",
                        "error": None,
                        "describe": {},
                        "started_ns": clock,
                        "finished_ns": None,
                    }
                    idx += 1
                    if failures and quant == "none" and batch == batches[-1] and mi == models - 1:
                        row.update(
                            status="failed",
                            finished_ns=clock,
                            error="out of memory: torch.OutOfMemoryError: CUDA out of memory. Tried to "
                            f"allocate 2.00 GiB (batch_size={batch})",
                        )
                        store.write_point(run_id, row, None)
                        continue
                    result = PointResult(point_id)
                    per_rep = []
                    info: dict = {}
                    for rep in range(repetitions):
                        records = _simulate(rng, clock, mi, quant, batch, rate)
                        timelines = _timelines(rng, records, batch, quant)
                        clock = max(r.t_end_ns for r in records) + 300_000_000
                        figures = dict(window_metrics(records, SLO))
                        figures["mem_peak_rss_bytes"] = max(timelines[0].values["rss_bytes"])
                        energy, info = energy_figures(timelines, records, {"gpu": 70.0})
                        figures.update(energy)
                        kl, top1 = QUANT[quant][1], QUANT[quant][2]
                        figures.update(
                            {
                                "fidelity_kl_mean": kl * (1 + mi * 0.3),
                                "fidelity_top1_agreement": top1,
                                "perplexity": 12.0 * (1 + 3 * kl) + mi,
                                "weights_bytes": 2.7e8 * QUANT[quant][3],
                            }
                        )
                        per_rep.append(figures)
                        result.requests += [(rep, r) for r in records]
                        result.timelines += [(rep, tl) for tl in timelines]
                        result.summaries += [(rep, k, v, None, None) for k, v in figures.items()]
                    for metric, (median, low, high) in aggregate_repetitions(per_rep, seed=0).items():
                        result.summaries.append((AGGREGATE, metric, median, low, high))
                    row.update(finished_ns=clock, describe={"energy": info})
                    store.write_point(run_id, row, result)
    store.finish_run(run_id, "finished_with_failures" if failures else "finished")
    return run_id


INIT = """
window.__longtasks = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longtasks.push([e.startTime,
  e.duration]); }).observe({type: 'longtask', buffered: true});
"""
PROBE = """(() => { const nav = performance.getEntriesByType('navigation')[0];
  const mark = (n) => { const m = performance.getEntriesByName(n); return m.length ? m[0].startTime : null; };
  return {load: nav && nav.loadEventEnd > 0 ? nav.loadEventEnd : null, first: mark('report-first-screen'),
          all: mark('report-all-drawn'), tasks: window.__longtasks || [], now: performance.now()}; })()"""


def measure(chromium, path: Path, eager: bool, quiet_ms: float = 1000, timeout_s: float = 120) -> dict:
    """One fresh load: TTI (ms) as defined in the module docstring, and the time all plots were drawn (eager)."""
    page = chromium.new_page()
    try:
        page.send("Page.addScriptToEvaluateOnNewDocument", {"source": INIT})
        page.navigate(path.resolve().as_uri() + ("#all" if eager else ""))
        deadline = time.monotonic() + timeout_s
        while True:
            probe = page.evaluate(PROBE)
            last_task = max((s + d for s, d in probe["tasks"]), default=0.0)
            ready = probe["load"] is not None and probe["first"] is not None and (not eager or probe["all"])
            if ready and probe["now"] - max(probe["load"], probe["first"], last_task) >= quiet_ms:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"page did not become interactive within {timeout_s}s: {probe}")
            time.sleep(0.1)
        errors = page.errors()
        if errors:
            raise RuntimeError(f"the page logged errors: {errors[:3]}")
        return {
            "tti_ms": max(probe["load"], probe["first"], last_task),
            "load_ms": probe["load"],
            "first_screen_ms": probe["first"],
            "all_drawn_ms": probe["all"],
            "long_tasks": len(probe["tasks"]),
            "requests": [u for u in page.requests if u != path.resolve().as_uri()],
        }
    finally:
        page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1000, help="1000 = 2 models × 5 quantizations × 10 × 10")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the store and report in this folder (and reuse its store)")
    args = parser.parse_args()
    from harness.report import write_report
    from harness.report.browser import Chromium, find_chromium
    from harness.report.render import plotly_js

    if find_chromium() is None:
        print("Chromium not found: apt-get install chromium (or set HARNESS_CHROMIUM)", file=sys.stderr)
        return 2
    side = max(1, round(math.sqrt(args.points / 10)))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(str(folder / "scale.db"))
    t = time.perf_counter()
    if args.keep and store.runs():  # a kept store is reused: synthesis is the slow part
        run_id = store.runs()[-1]["run_id"]
    else:
        run_id = synthesize(store, models=2, quantizations=5, batch_sizes=side, rates=side)
    n = len(store.points(run_id))
    print(f"synthesized {n} points ({time.perf_counter() - t:.1f} s) in {store.url}")
    t = time.perf_counter()
    path = write_report([(store, run_id)], folder / "scale.html")
    build_s = time.perf_counter() - t
    size = path.stat().st_size
    plotly_size = len(plotly_js().encode())
    print(
        f"report: {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB; plotly.js {plotly_size / 1e6:.2f} MB, data and page "
        f"{(size - plotly_size) / 1e6:.2f} MB), built in {build_s:.1f} s — target < 10 MB"
    )
    results: dict[str, list[dict]] = {"lazy": [], "eager": []}
    with Chromium() as chromium:
        for _ in range(args.loads):
            for mode in ("lazy", "eager"):
                results[mode].append(measure(chromium, path, eager=(mode == "eager")))
    med = {
        mode: {k: statistics.median(r[k] for r in runs) for k in ("tti_ms", "load_ms", "first_screen_ms")}
        for mode, runs in results.items()
    }
    all_drawn = statistics.median(r["all_drawn_ms"] for r in results["eager"])
    requests = sorted({u for runs in results.values() for r in runs for u in r["requests"]})
    print(
        f"lazy page (default): time-to-interactive {med['lazy']['tti_ms'] / 1000:.2f} s (load event "
        f"{med['lazy']['load_ms'] / 1000:.2f} s, first screen drawn {med['lazy']['first_screen_ms'] / 1000:.2f} s) "
        f"— target < 3 s; median of {args.loads}"
    )
    print(
        f"eager page (#all): all plots drawn {all_drawn / 1000:.2f} s, time-to-interactive "
        f"{med['eager']['tti_ms'] / 1000:.2f} s"
    )
    print(f"ratio lazy/eager time-to-interactive: {med['lazy']['tti_ms'] / med['eager']['tti_ms']:.2f}")
    print(f"network requests besides the page: {len(requests)}")
    return 0 if size < 10e6 and med["lazy"]["tti_ms"] < 3000 and not requests else 1


if __name__ == "__main__":
    sys.exit(main())
