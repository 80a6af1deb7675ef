"""Per-point machine fingerprints with the local executor, and the gate and compare refusing to pair points measured
on different hardware unless told to; the suite's `executor:` and `targets:` checked at validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results.machines import hardware_key
from harness.results.store import Store
from tests.conftest import run_cli

SUITE = """\
name: machines
engines:
  - {adapter: echo, dtype: none, args: {step_ms: 1, prefill_ms: 1}}
workload: {input_tokens: 8, output_tokens: 4, batch_size: [1, 2]}
repetitions: 3
warmup: 0
idle_s: 0
samplers: []
"""


def test_hardware_key_names_cpu_gpus_and_driver_not_the_host() -> None:
    a = {"host": "n1", "cpu_model": "Xeon", "cpu_count": 8, "gpus": ["NVIDIA H100"], "driver": "550.54"}
    assert hardware_key(a) == "Xeon x8; NVIDIA H100 (driver 550.54)"
    assert hardware_key({**a, "host": "n2", "ray_node_id": "ab"}) == hardware_key(a)
    # a run fingerprint of release 0.1 (before points had their own): GPUs as dicts, the logical CPU count
    old = {"cpu_model": "Xeon", "cpu_count_logical": 8, "gpus": [{"name": "NVIDIA H100"}], "driver": "550.54"}
    assert hardware_key(old) == hardware_key(a)
    assert hardware_key({"cpu_model": "EPYC", "cpu_count": 2, "gpus": []}) == "EPYC x2; no GPU"
    assert hardware_key(None) is None


@pytest.mark.slow
def test_points_keep_their_machine_and_the_gate_refuses_other_hardware(tmp_path: Path, cli_env: dict[str, str]) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    db = str(tmp_path / "r.db")
    for _ in range(2):
        assert run_cli(["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path).returncode == 0
    st = Store(db)
    base, cand = (r["run_id"] for r in st.runs())
    points = st.points(cand)
    machine = points[0]["describe"]["machine"]
    assert machine["host"] and machine["cpu_model"] and machine["cpu_count"] >= 1 and "gpus" in machine
    shown = run_cli(["show", cand, "--store", db], cli_env, tmp_path)
    assert f"points 0, 1: {machine['host']} — {hardware_key(machine)}" in shown.stdout

    same = run_cli(["gate", "-b", base, "-c", cand, "--store", db], cli_env, tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    # the candidate's second point measured elsewhere: another CPU
    st.update_describe(cand, points[1]["point_id"], {"machine": {**machine, "cpu_model": "Other CPU 9000"}})
    refused = run_cli(["gate", "-b", base, "-c", cand, "--store", db], cli_env, tmp_path)
    assert refused.returncode == 2
    assert "measured on different hardware" in refused.stderr and "Other CPU 9000" in refused.stderr
    assert "--allow-different-hardware" in refused.stderr
    allowed = run_cli(["gate", "-b", base, "-c", cand, "--store", db, "--allow-different-hardware"], cli_env, tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    compared = run_cli(["compare", base, cand, "--store", db], cli_env, tmp_path)
    assert compared.returncode == 2 and "measured on different hardware" in compared.stderr
    compared = run_cli(["compare", base, cand, "--store", db, "--allow-different-hardware"], cli_env, tmp_path)
    assert compared.returncode == 0, compared.stderr


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ("engines:\n  - {adapter: echo, dtype: none, hardware: h100}\n", [], "unknown target 'h100'"),
        ("executor: kubernetes\n", [], "executor.kind"),
        ("", ["--executor", "mesos"], "--executor: unknown executor 'mesos'"),
        ("targets: {a: {gpus: -1}}\n", [], "targets.a.gpus"),
    ],
)
def test_bad_executor_and_targets_exit_2(tmp_path: Path, cli_env: dict[str, str], extra, args, message) -> None:
    text = SUITE if "engines:" not in extra else SUITE.replace(SUITE.split("\n")[1] + "\n" + SUITE.split("\n")[2], "")
    suite = tmp_path / "s.yaml"
    suite.write_text(text.rstrip() + "\n" + extra)
    result = run_cli(["validate", str(suite), *args], cli_env, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_suite_hash_ignores_the_executor_and_stays_as_before_for_suites_without_targets() -> None:
    from harness.plan.expand import suite_hash
    from harness.plan.loader import parse_suite

    text = "name: x\nengines: [{adapter: hf}]\n"
    assert suite_hash(parse_suite(text)) == "18967f0488b5"  # the hash before executors and targets existed
    assert suite_hash(parse_suite(text + "executor: {kind: slurm, shared_dir: /s}\n")) == "18967f0488b5"
    targeted = "name: x\ntargets: {a: {gpus: 1}}\nengines: [{adapter: hf, hardware: a}]\n"
    assert suite_hash(parse_suite(targeted)) != "18967f0488b5"
