"""The gate and compare as CI uses them: real runs of a plugin engine, tags, bundles, outputs, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from harness.results.store import Store, request_table
from tests import pg
from tests.conftest import run_cli

SUITE = """\
name: gated
engines:
  - adapter: echo
    dtype: none
    args: {{step_ms: {step}, prefill_ms: 3}}
workload:
  input_tokens: 8
  output_tokens: 10
  batch_size: [1, 2]
repetitions: 5
warmup: 1
samplers: []
gate:
  threshold_pct: 15
"""


def run_suite(tmp_path, env, store: str, step: float) -> str:
    suite = tmp_path / f"s{step}.yaml"
    suite.write_text(SUITE.format(step=step))
    result = run_cli(["run", str(suite), "--store", store, "--no-progress"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return Store(store).runs()[-1]["run_id"]


def test_gate_passes_a_rerun_and_refuses_incompatible_runs(tmp_path, cli_env):
    db = str(tmp_path / "r.db")
    # steps of 20 ms: a loaded machine's scheduling jitter (a fraction of a millisecond) stays far below the 15%
    # threshold, so a rerun of the same engine is a rerun and not noise the gate rightly calls a regression
    base = run_suite(tmp_path, cli_env, db, step=20)
    assert run_cli(["tag", base, "main", "--store", db], cli_env, tmp_path).returncode == 0
    same = run_suite(tmp_path, cli_env, db, step=20)
    ok = run_cli(["gate", "--baseline", "main", "--candidate", same, "--store", db], cli_env, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("PASS")
    other = run_suite(tmp_path, cli_env, db, step=40)  # another engine config: other point ids
    refused = run_cli(["gate", "-b", "main", "-c", other, "--store", db], cli_env, tmp_path)
    assert refused.returncode == 2 and "incompatible runs: no point in common" in refused.stderr


def test_gate_regression_exit_1_on_same_points(tmp_path, cli_env):
    db = str(tmp_path / "r.db")
    base = run_suite(tmp_path, cli_env, db, step=2)
    # Same suite text (same point ids); the engine is slowed through the environment, as a code change would.
    env = dict(cli_env, HARNESS_ECHO_SLOWDOWN="2.0")
    cand = run_suite(tmp_path, env, db, step=2)
    md, junit, js = tmp_path / "g.md", tmp_path / "g.xml", tmp_path / "g.json"
    result = run_cli(
        [
            "gate",
            "-b",
            base,
            "-c",
            cand,
            "--store",
            db,
            "--markdown",
            str(md),
            "--junit",
            str(junit),
            "--json",
            str(js),
        ],
        cli_env,
        tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    verdicts = json.loads(js.read_text())
    assert verdicts["result"] == "regression"
    regressed = {(c["point"], c["metric"]) for c in verdicts["comparisons"] if c["verdict"] == "regression"}
    assert ("batch_size=1", "tpot_ms_p50") in regressed and ("batch_size=2", "output_throughput_tok_s") in regressed
    assert "❌ regression" in md.read_text() and "`tpot_ms_p50`" in md.read_text()
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == len(regressed)


def test_bundle_export_import_and_gate_against_a_file(tmp_path, cli_env):
    db = str(tmp_path / "r.db")
    base = run_suite(tmp_path, cli_env, db, step=2)
    bundle = tmp_path / "baseline.harness.jsonl.gz"
    exported = run_cli(["export", base, "--format", "bundle", "-o", str(bundle), "--store", db], cli_env, tmp_path)
    assert exported.returncode == 0 and bundle.exists()
    other = str(tmp_path / "other.db")
    imported = run_cli(["import", str(bundle), "--tag", "main", "--store", other], cli_env, tmp_path)
    assert imported.returncode == 0, imported.stderr
    a, b = Store(db), Store(other)
    assert b.resolve("main") == base
    assert b.repetition_values(base) == a.repetition_values(base)
    assert len(list(b.table_rows(request_table, base))) == 5 * (1 + 2)  # repetitions × sequences
    again = run_cli(["import", str(bundle), "--store", other], cli_env, tmp_path)
    assert again.returncode == 2 and "already in" in again.stderr
    cand = run_suite(tmp_path, cli_env, db, step=2)
    gated = run_cli(["gate", "-b", str(bundle), "-c", cand, "--store", db], cli_env, tmp_path)
    assert gated.returncode == 0, gated.stdout + gated.stderr
    compared = run_cli(["compare", str(bundle), cand, "--store", db], cli_env, tmp_path)
    assert compared.returncode == 0 and "output_throughput_tok_s" in compared.stdout and "%" in compared.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-b", "nope", "-c", "nope2"], "unknown run 'nope'"),
        (["-b", "missing.harness.jsonl.gz", "-c", "x"], "does not exist"),
    ],
)
def test_gate_bad_input_exit_2(tmp_path, cli_env, args, message):
    Store(str(tmp_path / "r.db"))
    result = run_cli(["gate", *args, "--store", str(tmp_path / "r.db")], cli_env, tmp_path)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL server binaries not installed (.ci/run installs them)")
def test_postgres_store_with_two_concurrent_writers(tmp_path, cli_env):
    with pg.postgres_server() as url:
        suite = tmp_path / "s.yaml"
        suite.write_text(
            SUITE.format(step=1)
            .replace("batch_size: [1, 2]", "batch_size: [1, 2, 3, 4]")
            .replace("repetitions: 5", "repetitions: 3")
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "run", str(suite), "--store", url, "--no-progress"],
                env=cli_env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        store = Store(url)
        runs = store.runs()
        assert len(runs) == 2
        for run in runs:  # nothing lost: every point, request and summary of both runs is there
            assert run["points"] == {"ok": 4}
            requests = list(store.table_rows(request_table, run["run_id"]))
            assert len(requests) == 3 * (1 + 2 + 3 + 4)
        store.set_tag("main", runs[0]["run_id"])
        gated = run_cli(["gate", "-b", "main", "-c", runs[1]["run_id"], "--store", url], cli_env, tmp_path)
        assert gated.returncode in (0, 1) and "incompatible" not in gated.stderr


SERVING = """\
name: gated-serving
engines:
  - adapter: openai
    model: fake
    args: {{url: "{url}", metrics_url: null}}
workload:
  kind: serving
  arrival: concurrency
  concurrency: 2
  num_requests: 6
  input_tokens: 4
  output_tokens: 4
  request_timeout_s: 5
repetitions: 3
warmup: 0
samplers: []
gate: {{}}
"""


def _serve_run(tmp_path, env, db: str, port: int, *fault: str) -> tuple[subprocess.CompletedProcess, str]:
    from tests.test_serving import start_fake, stop

    proc, url = start_fake("--port", str(port), *(a for f in fault for a in ("--fault", f)))
    try:
        suite = tmp_path / "serve.yaml"
        suite.write_text(SERVING.format(url=url))
        result = run_cli(["run", str(suite), "--store", db, "--no-progress"], env, tmp_path)
    finally:
        stop(proc)
    return result, Store(db).runs()[-1]["run_id"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_gate_fails_a_candidate_whose_every_request_failed(tmp_path, cli_env):
    """Found by fault injection: against a server answering HTTP 500, the candidate's points were stored `ok` with
    no throughput and the gate said `PASS: 5 missing`. Now the point is failed with the first error, and the gate
    fails and says why."""
    db, port = str(tmp_path / "r.db"), _free_port()
    healthy, base = _serve_run(tmp_path, cli_env, db, port)
    assert healthy.returncode == 0, healthy.stderr
    broken, cand = _serve_run(tmp_path, cli_env, db, port, "http500")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    (point,) = Store(db).points(cand)
    assert point["status"] == "failed"
    assert point["error"].startswith("all 6 requests of repetition 0 failed; first error: HTTP 500"), point["error"]
    gated = run_cli(["gate", "-b", base, "-c", cand, "--store", db], cli_env, tmp_path)
    assert gated.returncode == 1, gated.stdout + gated.stderr
    last = gated.stdout.strip().splitlines()[-1]
    assert last.startswith("REGRESSION: 1 failed"), gated.stdout
    assert "HTTP 500" in gated.stdout


def test_gate_with_too_few_repetitions_is_inconclusive_and_validate_warns(tmp_path, cli_env):
    """Found in a new user's first hour: 2 repetitions, +237% TPOT, and the gate said PASS."""
    db = str(tmp_path / "r.db")
    suite = tmp_path / "s2.yaml"
    suite.write_text(SUITE.format(step=2).replace("repetitions: 5", "repetitions: 2"))
    validated = run_cli(["validate", str(suite)], cli_env, tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "warning: gate: 2 repetitions cannot confirm any change at alpha=0.05" in validated.stdout
    base_run = run_cli(["run", str(suite), "--store", db, "--no-progress"], cli_env, tmp_path)
    assert base_run.returncode == 0, base_run.stderr
    slow_env = dict(cli_env, HARNESS_ECHO_SLOWDOWN="3.0")
    cand_run = run_cli(["run", str(suite), "--store", db, "--no-progress"], slow_env, tmp_path)
    assert cand_run.returncode == 0, cand_run.stderr
    base, cand = (r["run_id"] for r in Store(db).runs()[-2:])
    gated = run_cli(["gate", "-b", base, "-c", cand, "--store", db], cli_env, tmp_path)
    assert gated.returncode == 1, gated.stdout + gated.stderr
    last = gated.stdout.strip().splitlines()[-1]
    assert last.startswith("INCONCLUSIVE:") and "too few repetitions" in last, gated.stdout
    allowed = run_cli(["gate", "-b", base, "-c", cand, "--store", db, "--allow-inconclusive"], cli_env, tmp_path)
    assert allowed.returncode == 0 and "INCONCLUSIVE" in allowed.stdout
