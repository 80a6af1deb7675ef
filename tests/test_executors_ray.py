"""The Ray executor on a real local Ray cluster: a head node and a second node on this machine, each with its own
custom resource, started by ``ray start`` and stopped (by pid) after the module."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ours(temp_dir: str) -> list[int]:
    """Pids of the cluster's processes: those naming its temp dir, and all their descendants."""
    import psutil

    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        if any(temp_dir in part for part in proc.info["cmdline"] or []):
            found[proc.pid] = proc
    for proc in list(found.values()):
        try:
            found.update({c.pid: c for c in proc.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    return list(found)


class Cluster:
    def __init__(self, env: dict[str, str]) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray's unix sockets live under it
        self.port = _free_port()
        self.node_b_port = _free_port()
        self.env = env
        self.address = f"127.0.0.1:{self.port}"

    def start(self, *args: str) -> None:
        common = [
            "--num-cpus=1",
            "--object-store-memory=80000000",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]
        subprocess.run([RAY, "start", *args, *common], env=self.env, check=True, capture_output=True, timeout=180)

    def nodes(self) -> dict[str, dict[str, float]]:
        code = (
            f"import json, ray; ray.init(address={self.address!r}, logging_level='ERROR');"
            "print(json.dumps({n['NodeID']: n['Resources'] for n in ray.nodes() if n['Alive']}))"
        )
        out = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def raylet_b(self) -> int:
        import psutil

        for proc in psutil.process_iter(["name", "cmdline"]):
            cmd = proc.info["cmdline"] or []
            if "raylet" in (proc.info["name"] or "") and f"--node_manager_port={self.node_b_port}" in cmd:
                return proc.pid
        raise AssertionError("the second node's raylet is not running")

    def stop(self) -> None:
        for pid in _ours(self.temp_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture
def cli_env(cli_env: dict[str, str]) -> dict[str, str]:
    return dict(cli_env, RAY_AUTH_MODE="disabled")  # as the cluster: no token written into ~/.ray


@pytest.fixture(scope="module")
def cluster(echo_plugin: Path) -> Iterator[Cluster]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(echo_plugin), os.environ.get("PYTHONPATH")])))
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["RAY_AUTH_MODE"] = "disabled"  # a private cluster on 127.0.0.1; Ray would write a token into ~/.ray
    c = Cluster(env)
    try:
        c.start("--head", f"--port={c.port}", "--include-dashboard=false", '--resources={"accel_a": 1}')
        c.start(f"--address={c.address}", '--resources={"accel_b": 1}', f"--node-manager-port={c.node_b_port}")
        yield c
    finally:
        c.stop()


def _suite(path: Path, address: str, b_args: str = "{}", extra: str = "") -> Path:
    path.write_text(
        f"""
name: two-targets
executor: {{kind: ray, address: "{address}"}}
targets:
  a: {{resources: {{accel_a: 1}}}}
  b: {{resources: {{accel_b: 1}}}}
engines:
  - {{adapter: echo, model: "embedded:tiny-llama@1", hardware: a}}
  - {{adapter: echo, model: "embedded:tiny-llama@2", hardware: b, args: {b_args}}}
workload: {{input_tokens: 8, output_tokens: 4, batch_size: 1, num_batches: 1}}
repetitions: 1
warmup: 0
idle_s: 0
timeout_s: 120
{extra}"""
    )
    return path


def _points(db: Path) -> dict[str, dict[str, object]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT label, status, error, describe FROM point").fetchall()
    return {
        label: {"status": status, "error": error, "machine": json.loads(describe or "{}").get("machine") or {}}
        for label, status, error, describe in rows
    }


def _node_with(nodes: dict[str, dict[str, float]], resource: str) -> str:
    return next(node for node, resources in nodes.items() if resources.get(resource))


def test_two_targets_land_on_their_own_nodes(cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]) -> None:
    suite = _suite(tmp_path / "suite.yaml", cluster.address)
    db = tmp_path / "r.db"
    validated = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert validated.returncode == 0, validated.stderr
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    nodes = cluster.nodes()
    points = _points(db)
    assert {p["status"] for p in points.values()} == {"ok"}
    by_model = {label.split("model=")[1].split()[0]: p for label, p in points.items()}
    assert by_model["embedded:tiny-llama@1"]["machine"]["ray_node_id"] == _node_with(nodes, "accel_a")
    assert by_model["embedded:tiny-llama@2"]["machine"]["ray_node_id"] == _node_with(nodes, "accel_b")
    shown = run_cli(["show", result.stdout.split("stored run ")[1].split()[0], "--store", str(db)], cli_env, tmp_path)
    assert "ray:" in shown.stdout


def test_a_target_no_node_has_fails_validate_with_the_reason(
    cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    suite = _suite(tmp_path / "suite.yaml", cluster.address)
    suite.write_text(suite.read_text().replace("{accel_b: 1}", "{accel_c: 1}"))
    result = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert result.returncode == 2
    assert "accel_c=1; no alive node has it" in result.stderr


def test_resume_continues_a_local_run_on_ray(cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Both groups fail locally (the engine's load outlasts load_timeout_s in that session); --resume --executor ray
    measures them on their nodes, in the same run."""
    suite = _suite(tmp_path / "suite.yaml", cluster.address, extra="load_timeout_s: 8\n")
    db = tmp_path / "r.db"
    slow = dict(cli_env, HARNESS_ECHO_LOAD_MS="60000")
    first = run_cli(["run", str(suite), "--store", str(db), "--no-progress", "--executor", "local"], slow, tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert {p["status"] for p in _points(db).values()} == {"failed"}
    resumed = run_cli(["run", str(suite), "--store", str(db), "--no-progress", "--resume"], cli_env, tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), max(status) FROM run").fetchone() == (1, "finished")
    points = _points(db)
    assert {p["status"] for p in points.values()} == {"ok"}
    assert all(p["machine"]["ray_node_id"] for p in points.values())


def test_a_lost_node_fails_its_point_with_the_cause(cluster: Cluster, tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The second node's raylet is killed while its point hangs: that point is failed with the cause, the other
    target's point is stored ok. (Last in the module: the cluster keeps only its head afterwards.)"""
    suite = _suite(tmp_path / "suite.yaml", cluster.address, "{hang_on_call: 1}")
    db = tmp_path / "r.db"
    nodes = cluster.nodes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(suite), "--store", str(db), "--no-progress"],
        env=cli_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:  # until node b's engine is loaded and its point in flight
            logs = [p.read_text() for p in (tmp_path / "logs").rglob("*.log")] if (tmp_path / "logs").exists() else []
            if sum("echo: loading" in text for text in logs) >= 2 and db.exists() and _ok_count(db) == 1:
                break
            time.sleep(1)
        time.sleep(3)
        os.kill(cluster.raylet_b(), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout + stderr
    points = _points(db)
    by_model = {label.split("model=")[1].split()[0]: p for label, p in points.items()}
    assert by_model["embedded:tiny-llama@1"]["status"] == "ok"
    lost = by_model["embedded:tiny-llama@2"]
    assert lost["status"] == "failed"
    assert "node lost mid-group" in str(lost["error"])
    assert lost["machine"]["ray_node_id"] == _node_with(nodes, "accel_b")


def _ok_count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM point WHERE status = 'ok'").fetchone()[0])
    except sqlite3.Error:
        return 0
