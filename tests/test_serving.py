"""Serving: the load generator against a real local streaming server (harness.loadgen.fakeserver) — SSE faults,
arrivals, coordinated omission, timeouts, server death, launcher teardown, CLI errors, Prometheus deltas."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from harness.loadgen.client import LoadGenerator, run_sync
from harness.loadgen.http import ClientConfig, Prepared, Target, build_body, build_request
from harness.measure.servermetrics import deltas, parse, scrape
from harness.metrics import window_metrics
from harness.records import RequestRecord
from harness.workload.arrivals import ArrivalError, build_schedule, load_trace
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent


def start_fake(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.loadgen.fakeserver", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on"), line
    return proc, f"http://127.0.0.1:{int(line.split()[-1])}"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def fake():
    proc, url = start_fake("--ttft-ms", "0", "--itl-ms", "0")
    yield url
    stop(proc)


def load(
    url: str,
    n: int = 2,
    model: str = "fake",
    api: str = "completions",
    arrival: str = "concurrency",
    max_tokens: int = 8,
    **kw,
) -> list[RequestRecord]:
    timeout = kw.pop("request_timeout_s", 5.0)
    cfg = ClientConfig(url=url, model=model, api=api, request_timeout_s=timeout)  # type: ignore[arg-type]
    target = Target.parse(url)
    prepared = [Prepared(build_request(cfg, target, build_body(cfg, "a b c", max_tokens)), 3) for _ in range(n)]
    sched = build_schedule(arrival, n, concurrency=kw.pop("concurrency", 1), **kw)
    gen = LoadGenerator(cfg)
    return run_sync(lambda: gen.run(sched, prepared))


# ---------------------------------------------------------------- SSE faults, each against the real server


@pytest.mark.parametrize("api", ["completions", "chat"])
@pytest.mark.parametrize("fault", ["", "role_first", "no_done", "crlf", "no_stream"])
def test_sse_variants_that_succeed(fake, api, fault):
    recs = load(fake, model=f"fake@{fault}" if fault else "fake", api=api)
    for r in recs:
        assert r.ok, r.error
        assert r.n_out == 8 and r.n_out_source == "usage" and r.n_in == 3
        assert sum(r.chunk_tokens) == 8
        # a role-only / empty first chunk is not a token: the first token-bearing chunk is
        assert len(r.chunk_times_ns) == (1 if fault == "no_stream" else 8)


def test_usage_only_final_chunk_and_its_absence(fake):
    with_usage = load(fake)[0]
    assert with_usage.n_out_source == "usage"
    no_usage = load(fake, model="fake@no_usage")[0]
    assert no_usage.ok and no_usage.n_out == 8 and no_usage.n_out_source == "words"


def test_multi_token_chunks():
    proc, url = start_fake("--tokens-per-chunk", "3")
    try:
        r = load(url, n=1, max_tokens=8)[0]
    finally:
        stop(proc)
    assert r.ok and r.n_out == 8
    assert r.chunk_tokens == [3, 3, 2]  # three chunks: ITL counts a chunk of k tokens as one gap
    assert len(r.chunk_times_ns) == 3


@pytest.mark.parametrize(
    "fault,cause",
    [
        ("error_event", "server error event after 4 token chunks: fake fault"),
        ("disconnect", "closed by the server mid-response after 4 token chunks"),
        ("http500", "HTTP 500"),
        ("http429", "HTTP 429"),
    ],
)
def test_failures_are_errors_with_their_cause(fake, fault, cause):
    recs = load(fake, model=f"fake@{fault}", api="chat")
    for r in recs:
        assert not r.ok and cause in (r.error or "")
    m = window_metrics(recs)
    assert m["error_count"] == 2 and m["request_count"] == 2 and m["error_rate"] == 1.0


def test_request_timeout_is_bounded(fake):
    t0 = time.monotonic()
    recs = load(fake, n=2, model="fake@hang", request_timeout_s=0.3, concurrency=2)
    assert time.monotonic() - t0 < 3
    assert all("timeout" in (r.error or "") for r in recs)


def test_connect_refused_is_an_error_not_a_crash():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    recs = load(f"http://127.0.0.1:{port}", n=2)
    assert all("connect failed" in (r.error or "") for r in recs)


# ---------------------------------------------------------------- arrivals


def test_arrivals_seeded_and_statistical():
    a = build_schedule("poisson", 4000, rate=100.0, seed=7)
    b = build_schedule("poisson", 4000, rate=100.0, seed=7)
    c = build_schedule("poisson", 4000, rate=100.0, seed=8)
    assert a.offsets_ns == b.offsets_ns and a.offsets_ns != c.offsets_ns
    gaps = np.diff(np.array(a.offsets_ns)) / 1e9
    assert abs(gaps.mean() - 0.01) < 0.01 * 0.06  # mean 1/rate within 6% (n=4000: SE ≈ 1.6%)
    assert abs(gaps.std() / gaps.mean() - 1) < 0.08  # exponential: coefficient of variation 1
    const = build_schedule("constant", 5, rate=4.0)
    assert const.offsets_ns == [0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000]
    burst = build_schedule("burst", 6, rate=10.0, burst_size=3)
    assert burst.offsets_ns == [0, 0, 0, 300_000_000, 300_000_000, 300_000_000]
    bounded = build_schedule("constant", 100, rate=10.0, duration_s=1.0)
    assert bounded.num_requests == 10 and bounded.dropped == 90
    with pytest.raises(ArrivalError, match="rate > 0"):
        build_schedule("constant", 5)


def test_trace_replay(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"timestamp": 10.5, "input_tokens": 4, "output_tokens": 2}\n'
        '{"timestamp": 10.0, "input_tokens": 8, "output_tokens": 3}\n\n'
        '{"timestamp_ms": 11000, "input_length": 5, "output_length": 1}\n'
    )
    entries = load_trace(trace)
    assert [e.t_ns for e in entries] == [0, 500_000_000, 1_000_000_000]
    s = build_schedule("trace", 10, trace=trace)
    assert s.offsets_ns == [0, 500_000_000, 1_000_000_000] and s.output_tokens == [3, 2, 1]
    assert build_schedule("trace", 10, trace=trace, rate=4.0).offsets_ns == [0, 250_000_000, 500_000_000]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"timestamp": 1}\n{"when": 2}\n')
    with pytest.raises(ArrivalError, match=r"bad.jsonl:2"):
        load_trace(bad)


# ---------------------------------------------------------------- timing


def test_open_loop_timing_against_known_server():
    proc, url = start_fake("--ttft-ms", "20", "--itl-ms", "5")
    try:
        recs = load(url, n=40, arrival="constant", rate=100.0, max_tokens=5)
    finally:
        stop(proc)
    m = window_metrics(recs)
    assert m["error_count"] == 0
    # generous bounds: a shared 2-core CI box; precise figures come from benchmarks/loadgen_capacity.py
    assert 19.5 <= m["ttft_ms_p50"] < 35
    assert 4.5 <= m["tpot_ms_p50"] < 10
    sched = sorted(r.t_sched_ns for r in recs)
    assert abs((sched[-1] - sched[0]) / 39 - 10e6) < 1e4  # the schedule, not the client, fixes t_sched


def test_coordinated_omission_ttft_from_schedule():
    """A server with one slot and 50 ms per request, offered 40 req/s: its queue grows, and so must TTFT measured
    from the scheduled time, while a closed loop (which waits for the server) sees no queue at all."""
    proc, url = start_fake("--ttft-ms", "50", "--max-concurrency", "1")
    try:
        open_loop = load(url, n=12, arrival="constant", rate=40.0, max_tokens=1)
        closed = load(url, n=6, arrival="concurrency", concurrency=1, max_tokens=1)
    finally:
        stop(proc)
    ttft = [(r.t_first_ns - r.t_sched_ns) / 1e6 for r in open_loop]
    assert all(r.ok for r in open_loop)
    assert max(r.t_send_ns - r.t_sched_ns for r in open_loop) < 20e6  # sent on time...
    # ...but the 12th is served last: first token at ≥ 12 × 50 ms, scheduled at 11 × 25 ms → TTFT ≥ 325 ms
    assert ttft[-1] >= 320
    assert np.all(np.diff(ttft) > 0)
    assert max((r.t_first_ns - r.t_sched_ns) / 1e6 for r in closed) < 100


# ---------------------------------------------------------------- Prometheus


def test_prometheus_deltas(fake):
    url = fake + "/metrics"
    before = scrape(url)
    load(fake, n=3, max_tokens=4)
    after = scrape(url)
    d = deltas(before, after)
    assert d["server_vllm_request_success_total_delta"] == 3
    assert d["server_vllm_generation_tokens_total_delta"] == 12
    assert d["server_vllm_num_requests_running"] == 0
    created = (
        "# TYPE vllm:request_success_total counter\nvllm:request_success_total 5\nvllm:request_success_created 1.7e9\n"
    )
    assert deltas(parse(created.replace(" 5", " 2")), parse(created)) == {
        "server_vllm_request_success_total_delta": 3
    }  # the creation timestamp is not a measurement
    assert scrape("http://127.0.0.1:1/metrics") is None
    gauges = "# TYPE g gauge\ng NaN\n# TYPE h gauge\nh +Inf\n"
    assert deltas(None, parse(gauges)) == {"server_g": None, "server_h": None}  # non-finite values are no figures
    assert deltas(({"c": 1.0}, {"c"}), ({"c": float("inf")}, {"c"})) == {"server_c_delta": None}


# ---------------------------------------------------------------- runner, CLI, launchers


SUITE = """
name: serve-test
engines:
  - adapter: {adapter}
    model: fake
    args: {args}
workload:
  kind: serving
  arrival: constant
  rate: [50, 100]
  num_requests: 30
  input_tokens: 8
  output_tokens: 4
  request_timeout_s: 5
repetitions: 1
warmup: 0
timeout_s: 60
samplers: []
slo: {{ttft_ms: 100, tpot_ms: 50}}
"""


@pytest.mark.slow
def test_cli_run_server_dies_mid_point(tmp_path, cli_env):
    """The launched server dies after 40 requests (during the second point): the in-flight requests become
    errors with their cause, the point is stored, the sweep goes on (the next point fails: server died)."""
    suite = tmp_path / "s.yaml"
    suite.write_text(
        SUITE.format(adapter="fake-server", args="{ttft_ms: 2, itl_ms: 1, die_after: 40}").replace(
            "rate: [50, 100]", "rate: [50, 100, 150]"
        )
    )
    store = tmp_path / "r.db"
    res = run_cli(["run", str(suite), "-s", str(store), "--no-progress"], cli_env, ROOT, timeout=120)
    assert res.returncode == 1, res.stderr
    from harness.results.frames import load_points, load_requests

    points = load_points(str(store))
    assert list(points["status"]) == ["ok", "ok", "failed"]
    assert "server died" in points["error"].iloc[2]
    from harness.results.store import Store

    reqs = load_requests(str(store), Store(str(store)).runs()[0]["run_id"])
    second = reqs[reqs["point_id"] == points["point_id"].iloc[1]]
    assert len(second) == 30 and second["error"].notna().sum() >= 20  # 10 served, then refused/cut
    assert second["error"].dropna().str.contains("connect failed|closed by the server|connection lost").all()
    logs = list((tmp_path / "logs").rglob("*.server.log"))
    assert logs and "harness.loadgen.fakeserver" in logs[0].read_text()


def test_cli_unreachable_url_exit_2(tmp_path, cli_env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(adapter="openai", args=f"{{url: 'http://127.0.0.1:{port}'}}"))
    t0 = time.monotonic()
    res = run_cli(["run", str(suite), "-s", str(tmp_path / "r.db"), "--no-progress"], cli_env, ROOT)
    assert res.returncode == 2
    assert time.monotonic() - t0 < 30
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot connect" in lines[0] and str(port) in lines[0]


def test_cli_openai_adapter_against_running_server(tmp_path, cli_env, fake):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.format(adapter="openai", args=f"{{url: '{fake}'}}"))
    res = run_cli(["run", str(suite), "-s", str(tmp_path / "r.db"), "--no-progress"], cli_env, ROOT)
    assert res.returncode == 0, res.stderr
    from harness.results.frames import load_points

    points = load_points(str(tmp_path / "r.db"))
    assert (points["request_throughput_req_s"] > 0).all()
    assert (points["server_vllm_request_success_total_delta"] == 30).all()
    assert (points["goodput_req_s"] > 0).all() and (points["slo_attainment"] == 1.0).all()


def test_launcher_teardown_leaves_no_orphans(tmp_path, monkeypatch):
    from harness.adapters.fake_server import FakeServerLauncher

    from harness.plan.points import EngineConfig

    monkeypatch.setenv("HARNESS_LOG_PATH", str(tmp_path / "g.log"))
    engine = EngineConfig(
        adapter="fake-server",
        model="fake",
        dtype="float32",
        quantization="none",
        device="cpu",
        threads=None,
        visible_gpus=None,
        args={"ttft_ms": 1},
    )
    server = FakeServerLauncher(engine)
    server.load()
    assert server.alive() is None
    pid = server.proc.pid
    family = [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    recs = load(server.url, n=2)
    assert all(r.ok for r in recs)
    server.close()
    time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in family)
    assert (tmp_path / "g.server.log").exists()


def test_launcher_kill_tree_takes_grandchildren():
    from harness.adapters.launched import kill_tree

    # a server that forks a worker which ignores SIGTERM (as engine processes sometimes do)
    code = (
        "import subprocess,sys,time;"
        "subprocess.Popen([sys.executable,'-c','import signal,time;signal.signal(signal.SIGTERM,signal.SIG_IGN);"
        "time.sleep(60)']);time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = psutil.Process(proc.pid).children()[0].pid
    kill_tree(proc, timeout_s=1)
    time.sleep(0.2)
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_llama_cpp_server_end_to_end(tmp_path, cli_env):
    pytest.importorskip("llama_cpp.server")
    suite = tmp_path / "s.yaml"
    suite.write_text(
        SUITE.format(adapter="llama-cpp-server", args="{n_ctx: 512, startup_timeout_s: 120}")
        .replace("model: fake", "model: embedded:tiny-llama")
        .replace("rate: [50, 100]", "rate: 2")
        .replace("num_requests: 30", "num_requests: 4")
    )
    res = run_cli(["run", str(suite), "-s", str(tmp_path / "r.db"), "--no-progress"], cli_env, ROOT, timeout=300)
    assert res.returncode == 0, res.stderr + res.stdout
    from harness.results.frames import load_points, load_requests

    assert load_points(str(tmp_path / "r.db"))["status"].tolist() == ["ok"]
    from harness.results.store import Store

    reqs = load_requests(str(tmp_path / "r.db"), Store(str(tmp_path / "r.db")).runs()[0]["run_id"])
    assert reqs["error"].isna().all() and (reqs["n_out"] > 0).all()
    # llama-cpp-python streams no usage: counts come from the model's own tokenizer, and the prompts were made in it
    assert (reqs["n_in_source"] == "tokenizer").all() and (reqs["n_in"] == 8).all() and (reqs["n_out"] == 4).all()
    # the server is gone after the run
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if "llama_cpp.server" in " ".join(p.info["cmdline"] or [])
        and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]


def test_suite_validation_errors(tmp_path, cli_env):
    cases = {
        "workload:\n  rate: 5\n": "rate is a serving field",
        "workload:\n  kind: serving\n  arrival: constant\n": "workload.rate: required",
        "workload:\n  kind: serving\n  arrival: poison\n  rate: 1\n": "did you mean 'poisson'",
    }
    for body, message in cases.items():
        suite = tmp_path / "s.yaml"
        suite.write_text(f"name: x\nengines:\n  - adapter: fake-server\n    model: fake\n{body}")
        res = run_cli(["validate", str(suite)], cli_env, ROOT)
        assert res.returncode == 2 and message in res.stderr, res.stderr
    suite.write_text("name: x\nengines:\n  - adapter: hf\nworkload:\n  kind: serving\n  rate: 1\n")
    res = run_cli(["validate", str(suite)], cli_env, ROOT)
    assert res.returncode == 2 and "needs a server adapter" in res.stderr


def test_request_on_a_keepalive_connection_the_server_closed_is_sent_again():
    """A server may close an idle keep-alive connection just as the client reuses it (uvicorn does after 5 s):
    nothing of the reply came, so the client sends the request once more on a fresh connection."""
    import socket
    import threading

    body = b'data: {"choices":[{"text":"x"}]}\n\ndata: [DONE]\n\n'
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    connections: list[int] = []

    def serve() -> None:
        # connection 1 answers one request, then reads the next and closes without a byte; later ones answer all
        for n in range(2):
            conn, _ = listener.accept()
            connections.append(n)
            with conn:
                conn.settimeout(10)
                for _ in range(1 if n == 0 else 2):
                    if not conn.recv(65536):
                        break
                    conn.sendall(reply)
                if n == 0:
                    conn.recv(65536)  # the reused connection's request: dropped, as a closing server does

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    recs = load(url, n=2, concurrency=1, max_tokens=1)
    thread.join(timeout=10)
    listener.close()
    assert [r.error for r in recs] == [None, None]
    assert connections == [0, 1]


def test_text_prompts_have_the_requested_length_in_the_models_tokenizer():
    from transformers import AutoTokenizer

    from harness.models.resolve import resolve_model
    from harness.workload.prompts import text_prompts

    tok = AutoTokenizer.from_pretrained(resolve_model("embedded:tiny-llama").tokenizer_path)
    prompts = text_prompts(tok, 20, 32, seed=0)
    # n_in is what the tokenizer sees again, never the drawn count taken on trust
    assert all(len(tok.encode(p.text, add_special_tokens=False)) == p.n_in for p in prompts)
    assert sum(p.n_in == 32 for p in prompts) >= 15 and all(abs(p.n_in - 32) <= 3 for p in prompts)
    assert [p.text for p in text_prompts(tok, 20, 32, seed=0)] == [p.text for p in prompts]  # seeded


# ---------------------------------------------------------------- what a server says is not trusted


def _serve_bodies(bodies: list[bytes]):
    """A raw HTTP server answering request i with SSE body i, one connection each (``Connection: close``)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        for body in bodies:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                conn.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
                conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread, f"http://127.0.0.1:{listener.getsockname()[1]}"


def _sse(usage: str) -> bytes:
    return (
        b'data: {"choices":[{"text":" a"}]}\n\ndata: {"choices":[{"text":" b"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":%s}}\n\ndata: [DONE]\n\n' % usage.encode()
    )


BAD_COUNTS = {
    "10**30": ("1" + "0" * 30, "impossible usage.completion_tokens"),
    "string": ('"eight"', "non-numeric usage.completion_tokens"),
    "1e300": ("1e300", "impossible usage.completion_tokens"),
    "negative": ("-35", "impossible usage.completion_tokens"),
    "fraction": ("2.5", "non-integer usage.completion_tokens"),
}


def test_bad_usage_counts_fail_their_request_only():
    """Found by fault injection: 10**30 raised OverflowError and aborted the sweep; a string or 1e300 failed the whole
    point; a negative count was stored as −35.96 tok/s. Each is now that request's error; the others are measured."""
    bodies = [_sse("2")] + [_sse(value) for value, _ in BAD_COUNTS.values()] + [_sse("2")]
    listener, thread, url = _serve_bodies(bodies)
    try:
        recs = load(url, n=len(bodies), concurrency=1, max_tokens=2)
    finally:
        thread.join(timeout=10)
        listener.close()
    assert recs[0].ok and recs[-1].ok and recs[0].n_out == 2
    for r, (_, cause) in zip(recs[1:-1], BAD_COUNTS.values(), strict=True):
        assert not r.ok and cause in (r.error or ""), r.error
    m = window_metrics(recs)
    assert m["error_count"] == len(BAD_COUNTS) and m["output_tokens_total"] == 4
    assert m["output_throughput_tok_s"] is not None and m["output_throughput_tok_s"] > 0


def _exchange():
    from harness.loadgen.sse import Exchange

    done: list = []
    return Exchange(0, 0, Prepared(b"", 1), done.append), done


def test_cumulative_usage_going_backwards_and_malformed_objects_are_request_errors():
    ex, _ = _exchange()
    ex.feed(b'data: {"choices":[{"text":"a"}],"usage":{"completion_tokens":5}}\n\n', 1)
    ex.feed(b'data: {"choices":[{"text":"b"}],"usage":{"completion_tokens":3}}\n\n', 2)
    assert ex.error is not None and "went backwards (5 → 3)" in ex.error
    for body, cause in [
        (b'data: {"choices":"abc"}\n\n', "choices that are not a list"),
        (b'data: {"choices":[{"delta":"x"}]}\n\n', "delta that is not an object"),
        (b'data: {"choices":[{"text":5}]}\n\n', "text that is not a string"),
        (b'data: {"choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":"x"}}}\n\n', "cached_tokens"),
        (b"data: " + b"[" * 100_000 + b"\n\n", "malformed SSE data"),
    ]:
        ex, _ = _exchange()
        ex.feed(body, 1)
        assert ex.error is not None and cause in ex.error, (body[:40], ex.error)


def test_events_split_anywhere_parse_as_one_and_crlf_across_reads():
    stream = b'data: {"choices":[{"text":"a"}]}\r\n\r\ndata: {"choices":[{"text":"b"}]}\r\n\r\n'
    for cut in range(1, len(stream)):
        ex, _ = _exchange()
        ex.feed(stream[:cut], 1)
        ex.feed(stream[cut:], 2)
        assert ex.error is None and ex.texts == ["a", "b"], cut


def test_an_oversized_event_fails_its_request_with_the_limit():
    from harness.loadgen import sse

    ex, done = _exchange()
    piece = b"x" * 2**20
    ex.feed(b'data: {"choices":[{"text":"', 1)
    for _ in range(sse.MAX_EVENT_BYTES // len(piece) + 1):
        ex.feed(piece, 1)
    assert ex.error == "SSE event larger than the 16 MiB limit (MAX_EVENT_BYTES); reply dropped"
    assert len(ex.buf) == 0  # nothing more is kept
    ex.feed(b'"}]}\n\ndata: {"choices":[{"text":"late"}]}\n\n', 2)
    ex.complete(3)
    assert done and not ex.texts
