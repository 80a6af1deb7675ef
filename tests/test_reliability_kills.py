"""Reliability tier: the harness killed with SIGKILL or stopped with SIGTERM at each moment of a run, then resumed.

Moments: during an engine-environment build, during a model build, during the engine's load, mid-point offline,
mid-point serving (a launched fake server), between points. After each: no process of the run is left (its whole
tree, the launched server included, and anything that names the run's log folder), every stored point is whole,
SIGTERM exits 143 with the run marked ``interrupted`` and the command that resumes it, and ``--resume`` finishes
the run without measuring a stored point again, on one clock. Every wait is bounded.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.plan.expand import expand
from harness.plan.loader import load_suite
from harness.results.frames import load_requests
from harness.results.store import AGGREGATE, Store
from tests.conftest import run_cli
from tests.processes import Family, finish, start_cli, wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

KILLS = [signal.SIGKILL, signal.SIGTERM]

ECHO = """\
name: echo-kill
engines:
  - adapter: echo
    dtype: none
    args: {{step_ms: {step}, prefill_ms: 2, load_ms: {load}}}
workload:
  input_tokens: 8
  output_tokens: 5
  batch_size: [1, 2, 3]
repetitions: 2
warmup: 1
samplers: []
"""

SERVING = """\
name: serve-kill
engines:
  - adapter: fake-server
    model: fake
    args: {ttft_ms: 20, itl_ms: 20}
workload:
  kind: serving
  arrival: constant
  rate: [20, 25, 30]
  num_requests: 40
  input_tokens: 8
  output_tokens: 4
  request_timeout_s: 5
repetitions: 1
warmup: 0
samplers: []
"""

HF = """\
name: build-kill
engines:
  - adapter: hf
    model: embedded:tiny-llama
    dtype: float32
    device: cpu
    threads: 1
workload:
  input_tokens: 8
  output_tokens: 4
  batch_size: [1, 2]
repetitions: 1
warmup: 0
samplers: []
"""


@dataclass
class Watch:
    """What a moment looks at while the run goes on."""

    db: Path
    family: Family
    logs: Path

    def stored_ok(self) -> int:
        if not self.db.exists():
            return 0
        runs = Store(str(self.db)).runs()
        return runs[0]["points"].get("ok", 0) if runs else 0

    def logged(self, marker: str) -> bool:
        return any(marker in p.read_text(errors="replace") for p in self.logs.rglob("*.log"))


def _server_running(watch: Watch) -> bool:
    from tests.test_signals import server_stats

    stats = server_stats(watch.family)
    return bool(stats and stats["running"] > 0)


# moment → (the suite, the condition to strike at, the struck session's environment). A slow load or a slow
# engine for the struck session only (the same suite, so the same run) keeps an orphan alive long after the kill
# where nothing stops it, and lets the resumed session run fast.
MOMENTS: dict[str, tuple[str, Callable[[Watch], bool], dict[str, str]]] = {
    "model-load": (
        ECHO.format(step=5, load=500),
        lambda w: w.logged("echo: loading"),
        {"HARNESS_ECHO_LOAD_MS": "120000"},
    ),
    "mid-point-offline": (
        ECHO.format(step=5, load=0),
        lambda w: w.logged("echo: generating batch 1"),
        {"HARNESS_ECHO_SLOWDOWN": "2000"},  # 10 s a token
    ),
    "between-points": (ECHO.format(step=20, load=0), lambda w: w.stored_ok() >= 1, {}),
    "mid-point-serving": (SERVING, lambda w: w.stored_ok() >= 1 and _server_running(w), {}),
}


def requests_of(row: dict) -> int:
    """How many requests a whole point stores: every repetition's batches, or its serving requests."""
    config = row["config"]
    workload = config["workload"]
    if workload["kind"] == "serving":
        return config["repetitions"] * workload["num_requests"]
    return config["repetitions"] * workload["num_batches"] * workload["batch_size"]


def _check_whole(store: Store, run_id: str) -> dict[str, dict]:
    """Every stored point is ok and whole: all its requests and its aggregates are there."""
    points = {p["point_id"]: p for p in store.points(run_id)}
    assert all(p["status"] == "ok" for p in points.values()), [(p["status"], p["error"]) for p in points.values()]
    if not points:
        return points
    requests = load_requests(store, run_id)
    aggregates = {s["point_id"] for s in store.summaries(run_id, AGGREGATE)}
    for point_id, row in points.items():
        assert (requests["point_id"] == point_id).sum() == requests_of(row), point_id
        assert point_id in aggregates, point_id
    return points


def _strike(tmp_path: Path, env: dict[str, str], suite_text: str, when: Callable[[Watch], bool], sig: int):
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text)
    db = tmp_path / "r.db"
    proc = start_cli(["run", str(suite), "--store", str(db), "--no-progress"], env, tmp_path)
    watch = Watch(db, Family(proc.pid, tmp_path / "logs"), tmp_path / "logs")

    def ready() -> bool:
        watch.family.look()
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the moment came: {proc.stderr.read() if proc.stderr else ''}")
        return when(watch)

    wait_for(ready, 300, "the moment to strike")
    proc.send_signal(sig)  # at once: every look at the process tree before it narrows the moment
    processes = [c.split(" -m ")[-1].split()[0] for c in watch.family.commands.values() if " -m " in c]
    code, _, err = finish(proc, 120)
    try:
        watch.family.wait_all_gone(30)
    finally:  # the figures of docs/validation/reliability.md (pytest -m reliability -s)
        print(f"\n{signal.Signals(sig).name}: {len(processes)} processes ({', '.join(processes)}), exit {code}")
    return suite, db, code, err, processes


def _after(suite: Path, db: Path, code: int, err: str, sig: int, env: dict[str, str], tmp_path: Path) -> None:
    store = Store(str(db))
    run = store.runs()[0]
    if sig == signal.SIGTERM:
        assert code == 143, err
        assert "Traceback" not in err, err
        assert run["status"] == "interrupted"
        assert f"--resume --run-id {run['run_id']}" in err
    else:
        assert code == -signal.SIGKILL
    before = _check_whole(store, run["run_id"])
    resumed = start_cli(["run", str(suite), "--store", str(db), "--resume", "--no-progress"], env, tmp_path)
    family = Family(resumed.pid, tmp_path / "logs")
    family.look()
    code, _, err = finish(resumed, 240)
    assert code == 0, err
    family.wait_all_gone(30)
    after = _check_whole(store, run["run_id"])
    assert len(store.runs()) == 1 and store.runs()[0]["status"] == "finished"
    assert len(after) == len(expand(load_suite(suite)))
    for point_id, row in before.items():  # kept as they were, not measured again
        assert after[point_id]["finished_ns"] == row["finished_ns"]
    if before:
        last = max(p["finished_ns"] for p in before.values())
        assert all(p["started_ns"] > last for pid, p in after.items() if pid not in before)  # one run clock


@pytest.mark.parametrize("sig", KILLS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_killed_at_a_moment_then_resumed(tmp_path, cli_env, moment, sig):
    suite_text, when, slow = MOMENTS[moment]
    suite, db, code, err, _ = _strike(tmp_path, {**cli_env, **slow}, suite_text, when, sig)
    _after(suite, db, code, err, sig, cli_env, tmp_path)


@pytest.mark.parametrize("sig", KILLS, ids=lambda s: signal.Signals(s).name)
def test_killed_during_a_model_build_then_resumed(tmp_path, cli_env, sig):
    env = {**cli_env, "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    models = tmp_path / "cache" / "models"

    def building(_watch: Watch) -> bool:
        # From the staging folder's creation: the tokenizer's training keeps it there for seconds. Waiting for a
        # file inside left half a second before the rename, which a loaded CI machine's poll missed.
        return models.is_dir() and bool(list(models.glob(".*building*")))

    suite, db, code, err, _ = _strike(tmp_path, env, HF, building, sig)
    assert list(models.glob(".*building*"))  # the killed build's half
    _after(suite, db, code, err, sig, env, tmp_path)
    assert sorted(p.suffix for p in models.iterdir()) == ["", ".lock"]  # the next build cleaned it up


# ---------------------------------------------------------------- during an engine-environment build


@pytest.fixture
def silent_index() -> Iterator[str]:
    """A package index on 127.0.0.1 that accepts connections and never answers: pip waits on it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


ENV_SUITE = """\
name: env-kill
engines:
  - adapter: echo
    dtype: none
    env: {requirements: [harness-echo-engine-deps==1.0]}
workload:
  input_tokens: 8
  output_tokens: 2
  batch_size: [1]
repetitions: 1
warmup: 0
samplers: []
"""


@pytest.mark.parametrize("sig", KILLS, ids=lambda s: signal.Signals(s).name)
def test_killed_during_an_environment_build(tmp_path, cli_env, silent_index, sig):
    """pip waits on an index that never answers; the harness is killed meanwhile: pip goes with it (it would
    wait 600 s), the half-built environment is removed by the next build, and --resume says why it cannot build."""
    env = {
        **cli_env,
        "HARNESS_CACHE_DIR": str(tmp_path / "cache"),
        "PIP_INDEX_URL": silent_index,
        "PIP_TIMEOUT": "600",
        "PIP_RETRIES": "0",
    }

    def pip_waits(watch: Watch) -> bool:
        return any(" -m pip install" in c for c in watch.family.cmdlines())

    suite, db, code, err, _ = _strike(tmp_path, env, ENV_SUITE, pip_waits, sig)
    store = Store(str(db))
    run = store.runs()[0]
    if sig == signal.SIGTERM:
        assert code == 143 and "Traceback" not in err, err
        assert run["status"] == "interrupted"
    envs = tmp_path / "cache" / "envs"
    # the next build: an index that refuses at once; it removes the half-built environment first
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/simple"
    env.update({"PIP_INDEX_URL": refused, "PIP_TIMEOUT": "5"})
    result = run_cli(["run", str(suite), "--store", str(db), "--resume", "--no-progress"], env, tmp_path, 300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    point = store.points(run["run_id"])[0]
    assert point["status"] == "failed" and point["error"].startswith("engine environment: pip install")
    assert not [p for p in envs.iterdir() if p.is_dir()]  # nothing half-built is left to reuse
    assert store.runs()[0]["points"] == {"failed": 1}
