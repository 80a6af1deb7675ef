"""The results store: atomic per-point writes, replace-on-rewrite, resume bookkeeping, pandas loading."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from harness.records import RequestRecord, Timeline
from harness.results.frames import export_run, load_points
from harness.results.store import AGGREGATE, PointResult, Store, StoreError, request_table


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
    with pytest.raises(IntegrityError):
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
