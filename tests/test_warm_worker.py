"""Consecutive engine groups that share an environment run in one warm worker; a failure still costs one point.

The echo plugin declares its worker reusable with ``reuse_worker: true``; each point's ``describe.worker`` records
the worker's pid and whether it was handed over by the previous group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.results.store import Store
from tests.conftest import run_cli

ENGINE = """\
  - adapter: echo
    dtype: {dtype}
    threads: {threads}
    args: {{step_ms: 1, prefill_ms: 1, reuse_worker: {reuse}{extra}}}
"""
SUITE = """\
name: warm
engines:
{engines}
workload:
  input_tokens: 8
  output_tokens: 4
  batch_size: [1, 2, 3]
repetitions: 1
warmup: 0
idle_s: 0
"""


def engine(dtype: str = "[float32, bfloat16]", threads: int = 1, reuse: bool = True, extra: str = "") -> str:
    return ENGINE.format(dtype=dtype, threads=threads, reuse=str(reuse).lower(), extra=extra)


def run(tmp_path: Path, cli_env: dict[str, str], *engines: str) -> tuple[int, list[dict[str, Any]]]:
    suite = tmp_path / "warm.yaml"
    suite.write_text(SUITE.format(engines="".join(engines)))
    db = tmp_path / "r.db"
    result = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    store = Store(str(db))
    rows = store.points(store.runs()[0]["run_id"])
    return result.returncode, sorted(rows, key=lambda r: r["idx"])


def workers(rows: list[dict[str, Any]]) -> list[tuple[int, bool] | None]:
    return [
        (r["describe"]["worker"]["pid"], r["describe"]["worker"]["reused"]) if r["status"] == "ok" else None
        for r in rows
    ]


def test_two_dtype_groups_share_one_worker_and_keep_their_own_logs(tmp_path, cli_env):
    code, rows = run(tmp_path, cli_env, engine())
    assert code == 0
    assert [r["status"] for r in rows] == ["ok"] * 6
    pids = {r["describe"]["worker"]["pid"] for r in rows}
    assert len(pids) == 1, pids  # both dtype groups ran in the one worker
    assert [r["describe"]["worker"]["reused"] for r in rows] == [False] * 3 + [True] * 3
    logs = sorted((tmp_path / "logs").rglob("*.log"))  # beside the store
    assert len(logs) == 2  # one per group, though one process wrote both
    for log in logs:
        text = log.read_text()
        assert text.count("echo: loading") == 1 and text.count("echo: generating batch") == 3


def test_a_crash_in_group_one_fails_one_point_and_group_two_starts_a_fresh_worker(tmp_path, cli_env):
    code, rows = run(tmp_path, cli_env, engine(dtype="float32", extra=", kill_on_batch: 2"), engine(dtype="bfloat16"))
    assert code == 1
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "ok", "ok", "ok"]
    assert "SIGKILL" in rows[1]["error"]
    (first, _), _, (after_crash, _), *second = workers(rows)
    assert first != after_crash  # the crashed worker was replaced within its group
    assert {pid for pid, _ in second} - {first, after_crash} == {second[0][0]}  # group 2: a worker of its own
    assert [reused for _, reused in second] == [False] * 3


def test_an_engine_error_is_not_handed_to_the_next_group(tmp_path, cli_env):
    code, rows = run(tmp_path, cli_env, engine(dtype="float32", extra=", raise_on_batch: 3"), engine(dtype="bfloat16"))
    assert code == 1
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok", "ok", "ok"]
    assert rows[2]["error"] == "out of memory: MemoryError: simulated allocation failure"
    group1, group2 = {w for w in workers(rows[:2])}, {w for w in workers(rows[3:])}
    assert len(group1) == len(group2) == 1 and group1 != group2
    assert all(not reused for _, reused in group2)


def test_a_group_with_another_environment_or_a_non_reusable_engine_starts_its_own(tmp_path, cli_env):
    _, rows = run(
        tmp_path, cli_env, engine(dtype="float32"), engine(dtype="float32", threads=2), engine(reuse=False, dtype="x")
    )
    assert [r["status"] for r in rows] == ["ok"] * 9
    assert len({pid for pid, _ in workers(rows)}) == 3
    assert not any(reused for _, reused in workers(rows))
