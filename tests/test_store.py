"""The results store: atomic per-point writes, replace-on-rewrite, resume bookkeeping, pandas loading."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest

from harness.records import RequestRecord, Timeline
from harness.results.frames import export_run, load_points
from harness.results.store import AGGREGATE, PointResult, Store, StoreError, request_table
from tests.conftest import run_cli
from tests.test_store_compat import ECHO_SUITE


def _row(point_id: str, idx: int, status: str = "ok", error: str | None = None) -> dict:
    return {
        "point_id": point_id,
        "idx": idx,
        "group_id": "g",
        "label": f"batch_size={idx}",
        "axes": {"batch_size": idx},
        "status": status,
        "error": error,
        "describe": {},
        "started_ns": 0,
        "finished_ns": 1,
        "config": {
            "engine": {"adapter": "echo", "model": "m", "args": {"k": 1}},
            "workload": {"kind": "offline_batch", "batch_size": idx},
        },
    }


def _result(point_id: str, value: float) -> PointResult:
    result = PointResult(point_id)
    result.requests.append(
        (
            0,
            RequestRecord(
                index=0,
                t_sched_ns=0,
                t_send_ns=0,
                t_first_ns=5,
                t_end_ns=9,
                chunk_times_ns=[5, 9],
                chunk_tokens=[1, 1],
                n_in=3,
                n_out=2,
            ),
        )
    )
    result.timelines.append((0, Timeline(sampler="psutil", t_ns=[0, 10], values={"rss_bytes": [1.0, 2.0]})))
    result.summaries += [
        (0, "output_throughput_tok_s", value, None, None),
        (AGGREGATE, "output_throughput_tok_s", value, value - 1, value + 1),
    ]
    return result


def _run(store: Store) -> str:
    return store.create_run("s", "h", "name: s", {"python": "3"}, "0")


def test_points_round_trip_to_pandas(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    run_id = _run(store)
    store.write_point(run_id, _row("a", 0), _result("a", 10.0))
    store.write_point(run_id, _row("b", 1, "failed", "boom"), None)
    frame = load_points(store, run_id)
    assert list(frame["point_id"]) == ["a", "b"]
    assert frame.loc[0, "output_throughput_tok_s"] == 10.0
    assert frame.loc[0, "output_throughput_tok_s_ci_low"] == 9.0
    assert frame.loc[1, "error"] == "boom"
    assert frame.loc[0, "args.k"] == 1
    assert store.completed_points(run_id) == {"a"}


def test_rewriting_a_point_replaces_it_whole(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    run_id = _run(store)
    store.write_point(run_id, _row("a", 0), _result("a", 10.0))
    store.write_point(run_id, _row("a", 0), _result("a", 20.0))
    frame = load_points(store, run_id)
    assert len(frame) == 1 and frame.loc[0, "output_throughput_tok_s"] == 20.0
    assert len(list(store.table_rows(request_table, run_id))) == 1


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    run_id = _run(store)
    store.write_point(run_id, _row("a", 0), _result("a", 10.0))
    broken = _result("a", 30.0)
    broken.summaries.append((0, None, 1.0, None, None))  # NOT NULL violation mid-transaction
    with pytest.raises(StoreError, match="NOT NULL"):
        store.write_point(run_id, _row("a", 0), broken)
    frame = load_points(store, run_id)
    assert frame.loc[0, "output_throughput_tok_s"] == 10.0  # the earlier complete write survives


def test_run_ids_resolve_by_unique_prefix(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    run_id = _run(store)
    assert store.get_run(run_id[:10])["run_id"] == run_id
    with pytest.raises(StoreError, match="unknown run"):
        store.get_run("nope")


def test_export_csv_and_parquet(tmp_path):
    store = Store(str(tmp_path / "r.db"))
    run_id = _run(store)
    store.write_point(run_id, _row("a", 0), _result("a", 10.0))
    for fmt in ("csv", "parquet"):
        paths = export_run(store, run_id, fmt, tmp_path / fmt)
        assert {p.name for p in paths} == {
            f"{run_id}_{t}.{fmt}" for t in ("points", "repetitions", "requests", "samples", "metrics")
        }
    import pandas as pd

    requests = pd.read_parquet(tmp_path / "parquet" / f"{run_id}_requests.parquet")
    assert requests.loc[0, "chunk_times_ns"] == "[5, 9]"


def test_unreachable_store_url_is_a_clear_error():
    with pytest.raises(StoreError, match="cannot open results store"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")


# ------------------------------------------------------------ a store must exist to be read; a run's store is a file


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path):
    typo = tmp_path / "results" / "typo.db"
    with pytest.raises(StoreError, match=f"no results store at {typo}"):
        load_points(str(typo))
    with pytest.raises(StoreError, match="no results store"):
        Store(str(typo), create=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its folder


@pytest.mark.parametrize(
    "args", [["ls"], ["show", "r1"], ["report"], ["gate", "-b", "a", "-c", "b"], ["tag", "r", "t"]]
)
def test_read_commands_refuse_a_misspelt_store(tmp_path, cli_env, args):
    typo = tmp_path / "typo.db"
    result = run_cli([*args, "--store", str(typo)], cli_env, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"error: no results store at {typo}: check --store (or HARNESS_STORE); `harness run` creates one"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_named_with_its_absolute_path(tmp_path, cli_env):
    env = {k: v for k, v in cli_env.items() if k != "HARNESS_STORE"}
    result = run_cli(["ls"], env, tmp_path)
    assert result.returncode == 2
    assert f"no results store at {tmp_path / 'results' / 'harness.db'} (the default store, relative to the current" in (
        result.stderr
    )


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", ":memory:", "sqlite:///:memory:"])
def test_an_in_memory_store_is_refused(url, tmp_path, cli_env):
    with pytest.raises(StoreError, match="in-memory database"):
        Store(url)
    suite = tmp_path / "s.yaml"
    suite.write_text(ECHO_SUITE)
    result = run_cli(["run", str(suite), "--store", url, "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 2 and "in-memory database: what is stored there is lost" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_run_says_where_its_new_store_is_and_which_folder_it_made(tmp_path, cli_env):
    suite = tmp_path / "s.yaml"
    suite.write_text(ECHO_SUITE)
    result = run_cli(["run", str(suite), "--store", "new/dir/r.db", "--no-progress"], cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "new" / "dir" / "r.db"
    assert f"new results store {db} and directory {tmp_path / 'new'}" in result.stderr
    assert f"in {db}: 1 ok" in result.stdout  # the absolute path, whatever the current directory
    again = run_cli(["run", str(suite), "--store", str(db), "--no-progress"], cli_env, tmp_path)
    assert again.returncode == 0 and "new results store" not in again.stderr


def test_load_points_takes_the_latest_finished_run_unless_asked(tmp_path):
    db = str(tmp_path / "r.db")
    store = Store(db)
    finished = _run(store)
    store.write_point(finished, _row("a", 0), _result("a", 10.0))
    store.finish_run(finished, "finished")
    time.sleep(0.01)  # started_at orders runs
    going = _run(store)
    store.write_point(going, _row("a", 0), _result("a", 99.0))
    assert store.latest_run() == finished
    assert load_points(db)["run_id"].tolist() == [finished]
    assert load_points(db, include_unfinished=True)["output_throughput_tok_s"].tolist() == [99.0]
    assert load_points(db, going)["run_id"].tolist() == [going]  # named, any status
    only_going = Store(str(tmp_path / "o.db"))
    _run(only_going)
    assert load_points(only_going).empty


def test_a_database_error_is_one_line_naming_the_store(tmp_path):
    db = tmp_path / "r.db"
    store = Store(str(db))
    run_id = _run(store)
    store.write_point(run_id, _row("a", 0), _result("a", 10.0))
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE summary")
    with pytest.raises(StoreError) as caught:
        load_points(store, run_id)
    assert str(caught.value) == f"results store {db}: no such table: summary"
