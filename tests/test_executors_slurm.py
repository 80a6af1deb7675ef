"""The Slurm executor on a real one-node Slurm cluster (Debian's slurm-wlm and munge) on 127.0.0.1, started by a
session fixture with its own configuration, sockets and ports, and stopped (by pid) after the session."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONF = """\
ClusterName=harness
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.sock
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class Slurm:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hs", dir="/tmp"))
        self.conf = self.dir / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    def start(self) -> None:
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir()
        host = socket.gethostname()
        self.conf.write_text(CONF.format(host=host, ctld_port=_free_port(), d_port=_free_port(), dir=self.dir))
        key = self.dir / "munge.key"
        shutil.copyfile("/etc/munge/munge.key", key)
        os.chmod(key, 0o400)
        munge = [f"--socket={self.dir}/munge.sock", f"--key-file={key}", f"--pid-file={self.dir}/munged.pid"]
        munge += [f"--log-file={self.dir}/munged.log", f"--seed-file={self.dir}/munge.seed", "--force"]
        subprocess.run(["munged", *munge], check=True, capture_output=True, timeout=30)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon, "-f", str(self.conf)], env=self.env, check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
            if out.stdout.strip() == "idle":
                return
            time.sleep(1)
        raise RuntimeError(f"the node did not come up: sinfo says {out.stdout.strip() or out.stderr.strip()!r}")

    def stop(self) -> None:
        subprocess.run(["scancel", "--user=root"], env=self.env, capture_output=True, timeout=30)
        for name in ("slurmd", "slurmctld", "munged"):
            try:
                os.kill(int((self.dir / f"{name}.pid").read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError):
                continue
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm() -> Iterator[Slurm]:
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        pytest.skip(f"slurm-wlm/munge not installed: {', '.join(missing)} not found")
    cluster = Slurm()
    try:
        cluster.start()
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        cluster.stop()
        pytest.skip(f"Slurm daemons cannot run here: {exc} {detail.decode(errors='replace').strip()}")
    yield cluster
    cluster.stop()


def _suite(path: Path, shared: Path, b_args: str = "{}") -> Path:
    path.write_text(
        f"""
name: slurm-two-groups
executor: {{kind: slurm, shared_dir: "{shared}", poll_s: 0.5}}
targets:
  small: {{cpus: 1}}
engines:
  - {{adapter: echo, model: "embedded:tiny-llama@1", hardware: small}}
  - {{adapter: echo, model: "embedded:tiny-llama@2", hardware: small, args: {b_args}}}
workload: {{input_tokens: 8, output_tokens: 4, batch_size: 1}}
repetitions: 1
warmup: 0
idle_s: 0
timeout_s: 120
samplers: []
"""
    )
    return path


def _points(db: Path) -> dict[str, dict[str, object]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT label, status, error, describe FROM point").fetchall()
    return {
        label.split("model=")[1].split()[0]: {
            "status": status,
            "error": error,
            "machine": json.loads(describe or "{}").get("machine") or {},
        }
        for label, status, error, describe in rows
    }


def test_a_job_array_stores_every_point(slurm: Slurm, tmp_path: Path, cli_env: dict[str, str]) -> None:
    suite = _suite(tmp_path / "s.yaml", tmp_path / "shared")
    env = dict(cli_env, SLURM_CONF=str(slurm.conf))
    assert run_cli(["validate", str(suite)], env, tmp_path).returncode == 0
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    points = _points(db)
    assert [p["status"] for p in points.values()] == ["ok", "ok"]
    jobs = {p["machine"]["slurm_array_job_id"] for p in points.values()}
    assert len(jobs) == 1  # one array: both groups ask for the same target
    assert {p["machine"]["slurm_array_task_id"] for p in points.values()} == {"0", "1"}


def test_a_cancelled_task_is_stored_failed_and_collect_imports_the_rest(
    slurm: Slurm, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    suite = _suite(tmp_path / "s.yaml", tmp_path / "shared", "{hang_on_call: 1}")
    env = dict(cli_env, SLURM_CONF=str(slurm.conf))
    db = tmp_path / "r.db"
    submitted = run_cli(["run", str(suite), "--store", str(db), "--no-progress", "--no-wait"], env, tmp_path)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "harness collect" in submitted.stdout
    run_id = sqlite3.connect(db).execute("SELECT run_id FROM run").fetchone()[0]
    manifest = json.loads(next((tmp_path / "shared" / run_id).glob("*/manifest.json")).read_text())
    hung = next(t for t in manifest["tasks"] if "tiny-llama@2" in t["labels"][0])
    logs = next((tmp_path / "shared" / run_id).glob("*/logs")).parent / "bundles"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(logs.glob("*.gz")):  # the other group has landed
        time.sleep(1)
    time.sleep(3)  # the hung group's engine is loaded and its point in flight by now
    subprocess.run(["scancel", f"{hung['slurm_job_id']}_{hung['index']}"], env=env, check=True, timeout=30)
    collected = run_cli(["collect", run_id, "--store", str(db)], env, tmp_path, timeout=180)
    assert collected.returncode == 1, collected.stdout + collected.stderr
    assert "every task has ended" in collected.stdout
    points = _points(db)
    assert points["embedded:tiny-llama@1"]["status"] == "ok"
    lost = points["embedded:tiny-llama@2"]
    assert lost["status"] == "failed" and "CANCELLED" in str(lost["error"]), lost
    status = sqlite3.connect(db).execute("SELECT status FROM run").fetchone()[0]
    assert status == "finished_with_failures"
