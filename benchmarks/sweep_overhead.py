"""Sweep overhead: ``harness run suites/smoke.yaml`` against a plain Python loop making the same ``generate`` calls.

The plain loop is what a user would write by hand: one interpreter, import torch and transformers once, per dtype
load the same cached model (``embedded:tiny-llama``), and per batch size 1 warmup and 2 measured ``generate`` calls
of 64 input and exactly 32 output tokens, on the suite's threads. It runs twice per round: bare, and with the
harness's step clock (``harness.adapters.hf_streamer.StepClock``, the streamer that stamps every decoding step)
passed to ``generate``, so the cost of the per-step clock on each dtype is measured apart from the rest of the
harness.

Rounds interleave the three arms so that drift on a shared machine hits them alike. Printed per round: each arm's
wall time (process start to exit, imports and model loads included) and the ratio harness/plain; at the end, per
dtype, the per-point medians of output throughput of the harness and the plain loop, and their ratio.

    nice -n 10 python benchmarks/sweep_overhead.py [--rounds 2] [--suite suites/smoke.yaml] [--without-samplers]

``--without-samplers`` runs the harness arm on a copy of the suite with ``samplers: {}``, which shows what the
samplers themselves cost the engine (the harness's per-point figures against the plain loop's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLAIN = r"""
import json, sys, time
import torch
from transformers import AutoModelForCausalLM
from harness.adapters.hf_streamer import StepClock
from harness.models.resolve import resolve_model
from harness.records import RunClock

spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
path = resolve_model(spec["model"]).path
out = {}
for dtype in spec["dtypes"]:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    for batch in spec["batch_sizes"]:
        ids = torch.randint(10, 200, (batch, spec["input_tokens"]))
        tok_s = []
        for rep in range(spec["warmup"] + spec["repetitions"]):
            kwargs = {"streamer": StepClock(RunClock())} if spec["streamer"] else {}
            t0 = time.perf_counter()
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                               max_new_tokens=spec["output_tokens"], min_new_tokens=spec["output_tokens"],
                               pad_token_id=0, **kwargs)
            if rep >= spec["warmup"]:
                tok_s.append(batch * spec["output_tokens"] / (time.perf_counter() - t0))
        out[f"{dtype} {batch}"] = sorted(tok_s)[len(tok_s) // 2] if len(tok_s) % 2 else sum(tok_s) / len(tok_s)
    del model
print(json.dumps(out))
"""


def suite_spec(suite_path: Path) -> dict:
    from harness.plan.loader import load_suite

    suite = load_suite(suite_path)
    engine = suite.engines[0]
    dtypes = engine.dtype if isinstance(engine.dtype, list) else [engine.dtype]
    workload = suite.workload
    batches = workload.batch_size if isinstance(workload.batch_size, list) else [workload.batch_size]
    return {
        "model": engine.model,
        "dtypes": dtypes,
        "threads": engine.threads or 1,
        "batch_sizes": batches,
        "input_tokens": workload.input_tokens,
        "output_tokens": workload.output_tokens,
        "repetitions": suite.repetitions,
        "warmup": suite.warmup,
    }


def without_samplers(suite: Path, work: Path) -> Path:
    import yaml

    data = yaml.safe_load(suite.read_text())
    data["samplers"] = {}
    copy = work / suite.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def run_harness(suite: Path, work: Path, n: int) -> tuple[float, dict[str, float]]:
    from harness.results.store import Store

    db = work / f"h{n}.db"
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(suite), "--store", str(db), "--no-progress"],
        check=True,
        capture_output=True,
        cwd=work,
    )
    wall = time.perf_counter() - t0
    store = Store(str(db))
    run_id = store.runs()[0]["run_id"]
    medians = store.completed_metrics(run_id)
    rows = {p["point_id"]: p for p in store.points(run_id)}
    per_point = {
        f"{rows[pid]['config']['engine']['dtype']} {rows[pid]['config']['workload']['batch_size']}": (
            m["output_throughput_tok_s"] or 0.0
        )
        for pid, m in medians.items()
    }
    return wall, per_point


def run_plain(spec: dict, streamer: bool) -> tuple[float, dict[str, float]]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PLAIN, json.dumps({**spec, "streamer": streamer})],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "HF_HUB_OFFLINE": "1"},
    )
    return time.perf_counter() - t0, json.loads(done.stdout.strip().splitlines()[-1])


def print_medians(arms: dict[str, list[dict[str, float]]]) -> None:
    print("per-point output tok/s, median over rounds (harness / plain / plain+clock; ratios to plain):")
    for key in arms["plain"][0]:
        med = {arm: statistics.median(r[key] for r in rounds) for arm, rounds in arms.items()}
        print(
            f"  {key:>14}: {med['harness']:8.1f} / {med['plain']:8.1f} / {med['plain+clock']:8.1f}"
            f"   harness {med['harness'] / med['plain']:.2f}×, clock {med['plain+clock'] / med['plain']:.2f}×",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "smoke.yaml")
    parser.add_argument("--without-samplers", action="store_true", help="the harness arm runs with samplers: {}")
    args = parser.parse_args()
    suite = args.suite.resolve()
    spec = suite_spec(suite)
    arms: dict[str, list[dict[str, float]]] = {"harness": [], "plain": [], "plain+clock": []}
    with tempfile.TemporaryDirectory() as tmp:
        if args.without_samplers:
            suite = without_samplers(suite, Path(tmp))
        for n in range(args.rounds):
            order = ["harness", "plain", "plain+clock"] if n % 2 == 0 else ["plain+clock", "plain", "harness"]
            walls = {}
            for arm in order:
                if arm == "harness":
                    walls[arm], points = run_harness(suite, Path(tmp), n)
                else:
                    walls[arm], points = run_plain(spec, streamer=arm == "plain+clock")
                arms[arm].append(points)
            print(
                f"round {n + 1}: harness {walls['harness']:.1f} s, plain {walls['plain']:.1f} s, "
                f"plain+clock {walls['plain+clock']:.1f} s; harness/plain {walls['harness'] / walls['plain']:.2f}×",
                flush=True,
            )
            print_medians(arms)  # after every round: a run cut short still has its figures


if __name__ == "__main__":
    main()
