"""Stopping and dying cleanly: SIGINT/SIGTERM, a worker killed under a launched server, errors and timeouts that
say what happened to *this* point, the load's own limit, one run clock across sessions, the server log's place,
and what killed builds leave behind. The kill -9/SIGTERM-then-resume matrix is in tests/test_reliability_kills.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.results.store import Store
from tests.conftest import ROOT, run_cli
from tests.processes import Family, finish, living, start_cli, wait_for

ECHO = """\
name: echo
engines:
  - adapter: echo
    dtype: none
    args: {{step_ms: {step}, prefill_ms: 2{extra}}}
workload:
  input_tokens: 8
  output_tokens: 5
  batch_size: [1, 2, 3]
repetitions: {reps}
warmup: 1
timeout_s: {timeout}
{more}samplers: []
"""


def echo_suite(tmp_path: Path, extra: str = "", timeout: float = 60, step: float = 1, reps: int = 2, more: str = ""):
    path = tmp_path / "echo.yaml"
    path.write_text(ECHO.format(extra=extra, timeout=timeout, step=step, reps=reps, more=more))
    return path


def points_of(db: Path) -> list[dict]:
    store = Store(str(db))
    return store.points(store.runs()[-1]["run_id"])


# ---------------------------------------------------------------- signals


def _importing_libraries(pid: int) -> bool:
    """True once the process maps an extension module of site-packages: Python is running the CLI's heavy imports
    (typer, pydantic, SQLAlchemy…); interpreter start-up itself maps none."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return any("site-packages" in line and ".so" in line for line in maps.splitlines())


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
@pytest.mark.parametrize("delay_s", [0.0, 0.3, 1.0, 2.5])
def test_an_early_ctrl_c_exits_quietly(tmp_path, cli_env, delay_s):
    """SIGINT while the CLI is still importing (or has just started the run): exit 130, no traceback."""
    suite = echo_suite(tmp_path, extra=", load_ms: 5000")
    proc = start_cli(["run", str(suite), "--store", str(tmp_path / "r.db"), "--no-progress"], cli_env, tmp_path)
    family = Family(proc.pid, tmp_path / "logs")
    wait_for(lambda: _importing_libraries(proc.pid) or proc.poll() is not None, 60, "the CLI's imports")
    time.sleep(delay_s)
    family.look()
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert code == 130, err
    family.wait_all_gone()


def _run_until_the_first_point(tmp_path: Path, cli_env: dict) -> tuple[Path, Path, subprocess.Popen, Family, Store]:
    """A slow echo sweep started as a real process, returned once its first point is stored."""
    suite = echo_suite(tmp_path, step=40, reps=2)
    db = tmp_path / "r.db"
    proc = start_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    family = Family(proc.pid, tmp_path / "logs")
    store = Store(str(db))

    def one_point_stored() -> bool:
        family.look()
        runs = store.runs() if db.exists() else []
        return bool(runs) and runs[0]["points"].get("ok", 0) >= 1

    wait_for(one_point_stored, 300, "the first point")
    return suite, db, proc, family, store


def test_sigterm_marks_the_run_interrupted_and_exits_143(tmp_path, cli_env):
    suite, db, proc, family, store = _run_until_the_first_point(tmp_path, cli_env)
    family.look()
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 143, err
    assert "Traceback" not in err
    run = store.runs()[0]
    assert run["status"] == "interrupted"
    assert f"--store {db} --resume --run-id {run['run_id']}" in err and "SIGTERM" in err
    assert any("harness.execution.worker" in c for c in family.cmdlines())
    family.wait_all_gone()
    assert [p["status"] for p in store.points(run["run_id"])] == ["ok"] * run["points"]["ok"]


def test_a_run_whose_process_was_killed_is_stale_in_ls_and_show(tmp_path, cli_env):
    """kill -9 leaves the run `running` in the store (nobody could mark it); `ls` and `show` say `stale` instead,
    while a run whose process lives says `running`, and a resumed run is `running` again under its new process."""
    suite, db, proc, family, store = _run_until_the_first_point(tmp_path, cli_env)
    alive = run_cli(["ls", "--store", str(db)], cli_env, tmp_path)
    assert " running " in alive.stdout and "stale" not in alive.stdout, alive.stdout
    family.look()
    proc.kill()
    finish(proc)
    family.wait_all_gone()
    run_id = store.runs()[0]["run_id"]
    assert store.runs()[0]["status"] == "running"  # what the store holds: the killed process could not say
    listed = run_cli(["ls", "--store", str(db)], cli_env, tmp_path)
    assert " stale " in listed.stdout and " running " not in listed.stdout, listed.stdout
    shown = run_cli(["show", run_id, "--store", str(db)], cli_env, tmp_path)
    assert "status stale" in shown.stdout, shown.stdout
    resumed = run_cli(["run", str(suite), "--store", str(db), "--resume", "--no-progress"], cli_env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert store.runs()[0]["status"] == "finished" and len(store.runs()) == 1


def test_a_running_run_of_another_host_keeps_its_status():
    from harness.results.liveness import shown_status

    theirs = {"host": "elsewhere.example", "pid": 1, "started_at": 0.0}
    assert shown_status({"status": "running", "fingerprint": {"harness_process": theirs}}) == "running"
    assert shown_status({"status": "running", "fingerprint": {}}) == "running"  # stored before the field existed
    mine = {**theirs, "host": __import__("socket").gethostname(), "pid": os.getpid(), "started_at": 0.0}
    assert shown_status({"status": "running", "fingerprint": {"harness_process": mine}}) == "stale"  # pid reused
    assert shown_status({"status": "ok", "fingerprint": {"harness_process": mine}}) == "ok"


# ---------------------------------------------------------------- a worker that dies takes its server along


SERVING = """\
name: serve-kill
engines:
  - adapter: fake-server
    model: fake
    args: {ttft_ms: 20, itl_ms: 20}
workload:
  kind: serving
  arrival: constant
  rate: [20, 25]
  num_requests: 60
  input_tokens: 8
  output_tokens: 4
  request_timeout_s: 5
repetitions: 1
warmup: 0
timeout_s: 60
samplers: []
"""


def server_stats(family: Family) -> dict | None:
    """The fake server's counters (``GET /stats``), found by its command line among the run's processes."""
    from harness.loadgen.http import http_get

    for line in family.cmdlines():
        if "harness.loadgen.fakeserver" in line and "--port" in line:
            port = line.split("--port")[1].split()[0]
            try:
                status, body = http_get(f"http://127.0.0.1:{port}/stats", timeout_s=2)
            except OSError:
                return None
            return json.loads(body) if status == 200 else None
    return None


def test_a_killed_worker_takes_its_launched_server_along(tmp_path, cli_env):
    """SIGKILL of the worker mid-point (the OOM killer's way): the server it launched dies too, the point fails
    with the cause and the next point starts a fresh worker and server."""
    suite = tmp_path / "s.yaml"
    suite.write_text(SERVING)
    db = tmp_path / "r.db"
    proc = start_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    family = Family(proc.pid, tmp_path / "logs")
    stats = wait_for(lambda: (s := server_stats(family)) and s["running"] > 0 and s, 300, "requests in flight")
    assert stats
    family.look()
    workers = [family.seen[pid] for pid, c in family.commands.items() if "harness.execution.worker" in c]
    servers = [family.seen[pid] for pid, c in family.commands.items() if "harness.loadgen.fakeserver" in c]
    assert len(workers) == 1 and len(servers) == 1
    workers[0].kill()
    wait_for(lambda: not living(servers[0]), 30, "server exit")
    code, _, err = finish(proc, 300)
    assert code == 1, err
    statuses = [p["status"] for p in points_of(db)]
    assert statuses == ["failed", "ok"]
    assert "SIGKILL" in points_of(db)[0]["error"]
    family.wait_all_gone()


# ---------------------------------------------------------------- errors and limits that say what happened


def test_a_silent_death_does_not_quote_the_previous_points_traceback(tmp_path, cli_env):
    suite = echo_suite(tmp_path, extra=", raise_on_batch: 1, kill_on_batch: 2")
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1, result.stderr
    first, second, third = points_of(db)
    assert first["error"] == "out of memory: MemoryError: simulated allocation failure"
    # it died without a word: nothing is quoted (the log's last line is the first point's traceback)
    assert second["error"] == "engine worker died (SIGKILL (killed: likely out of memory))", second["error"]
    assert third["status"] == "ok"


def test_a_timeout_says_the_limit_and_what_was_left_of_it(tmp_path, cli_env):
    # batch 1: warmup, repetition 0 (each ~0.5 s), then repetition 1 hangs: it had less than the whole limit
    suite = echo_suite(tmp_path, extra=", hang_on_call: 3", step=100, timeout=4)
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1, result.stderr
    error = points_of(db)[0]["error"]
    assert error.startswith("timed out: timeout_s 4s ran out (this step had the last "), error


def test_the_load_has_its_own_limit_and_says_so(tmp_path, cli_env):
    suite = echo_suite(tmp_path, extra=", load_ms: 4000", more="load_timeout_s: 1\n")
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 1, result.stderr
    errors = [p["error"] for p in points_of(db)]
    assert errors == ["engine load timed out after 1s (load_timeout_s)"] * 3


def test_the_load_timeout_has_a_range():
    from harness.plan.loader import parse_suite
    from harness.plan.schema import SuiteError

    base = "name: t\nengines: [{adapter: echo, dtype: none}]\n"
    assert parse_suite(base).load_timeout_s == 900.0
    for value, shown in (("0", "0"), ("-5", "-5"), (".inf", "inf"), ("1e9", "1000000000.0")):
        with pytest.raises(SuiteError, match=f"load_timeout_s: must be > 0 and <= 604,800 s, got {shown}"):
            parse_suite(f"{base}load_timeout_s: {value}\n")


def test_the_load_does_not_eat_the_first_points_time(tmp_path, cli_env):
    suite = echo_suite(tmp_path, extra=", load_ms: 3000", timeout=2)  # a 2 s point after a 3 s load
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p["status"] for p in points_of(db)] == ["ok"] * 3


def test_resume_continues_the_run_clock(tmp_path, cli_env):
    suite = echo_suite(tmp_path, extra=", kill_on_batch: 3")
    db = tmp_path / "r.db"
    assert run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path).returncode == 1
    before = points_of(db)
    args = ["run", str(suite), "--store", str(db), "--resume", "--no-progress"]
    assert run_cli(args, cli_env, tmp_path).returncode == 1  # the third point is measured (and killed) again
    after = points_of(db)
    assert [p["finished_ns"] for p in after[:2]] == [p["finished_ns"] for p in before[:2]]
    assert after[2]["started_ns"] > max(p["finished_ns"] for p in before)  # one clock, not one per session
    assert after[2]["started_ns"] > before[2]["finished_ns"]


# ---------------------------------------------------------------- the launched server's log


def test_the_server_log_is_never_a_predictable_tmp_name(tmp_path, monkeypatch):
    import tempfile

    from harness.adapters import launched
    from harness.adapters.fake_server import FakeServerLauncher

    from harness.plan.points import EngineConfig

    monkeypatch.delenv("HARNESS_LOG_PATH", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    port = launched.free_port()
    monkeypatch.setattr(launched, "free_port", lambda: port)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / f"harness-fake-server-{port}.server.log").symlink_to(victim)  # planted by another user
    engine = EngineConfig(
        adapter="fake-server",
        model="fake",
        dtype="float32",
        quantization="none",
        device="cpu",
        threads=None,
        visible_gpus=None,
        args={},
    )
    server = FakeServerLauncher(engine)
    try:
        server.load()
        assert server.log_path is not None and not server.log_path.is_symlink()
        assert "harness.loadgen.fakeserver" in server.log_path.read_text()
        assert server.log_path.stat().st_mode & 0o077 == 0  # readable by its owner only
    finally:
        server.close()
    assert victim.read_text() == "precious\n"


# ---------------------------------------------------------------- killed builds


def _kill_when(proc: subprocess.Popen, ready, what: str) -> None:
    try:
        wait_for(ready, 300, what)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_killed_gguf_build_is_cleaned_up_by_the_next(tmp_path):
    target = tmp_path / "gguf" / "model-q8_0-b1.gguf"
    code = (
        "import sys, time; from pathlib import Path; from harness.models.gguf_export import _cached\n"
        "def slow(tmp): tmp.write_bytes(b'half'); time.sleep(600)\n"
        "_cached(Path(sys.argv[1]), slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT, start_new_session=True)
    _kill_when(proc, lambda: [p for p in target.parent.glob(".*building*") if p.stat().st_size], "a half file")
    from harness.models.gguf_export import _cached

    _cached(target, lambda tmp: tmp.write_bytes(b"GGUF"))
    assert target.read_bytes() == b"GGUF"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name, target.name + ".lock"]


@pytest.mark.slow
def test_a_killed_model_build_is_cleaned_up_by_the_next(tmp_path):
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path)}
    code = "from harness.models.embedded import ensure_tiny_llama; ensure_tiny_llama()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)
    models = tmp_path / "models"
    _kill_when(proc, lambda: models.is_dir() and list(models.glob(".*building*/tokenizer.json")), "a half build")
    from harness.models.embedded import ensure_tiny_llama

    target = ensure_tiny_llama(cache_dir=tmp_path)
    assert (target / "harness_model.json").exists()
    assert sorted(p.name for p in models.iterdir()) == [target.name, target.name + ".lock"]
