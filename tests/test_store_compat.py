"""Older stores keep working and other databases are left alone: a store written by release 0.1.0 (before the
layout change) and one written by main before the schema version was kept open, migrate, and every figure survives;
a foreign, newer or damaged database is refused with one line naming it, and nothing is written into it."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from harness.metrics.window import WindowSLO, window_metrics
from harness.plan.loader import parse_suite
from harness.records import RequestRecord
from harness.results.frames import load_points, load_requests
from harness.results.schema import request_table
from harness.results.store import Store, StoreError
from harness.results.versions import SCHEMA_VERSION, VERSION_KEY, fmt
from tests import pg
from tests.conftest import RELEASED_STORE, run_cli

ECHO_SUITE = """\
name: echo
engines:
  - adapter: echo
    dtype: none
    args: {step_ms: 1}
workload:
  input_tokens: 4
  output_tokens: 2
  batch_size: 1
repetitions: 1
warmup: 0
samplers: []
"""


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return cli_env


def test_every_read_command_works_on_the_released_store(released_store: Path, env, tmp_path: Path):
    store = Store(str(released_store))
    runs = store.runs()
    assert [r["suite_name"] for r in runs] == ["fixture-offline", "fixture-serving", "fixture-slo"]
    db = str(released_store)
    listed = run_cli(["ls", "--store", db], env, tmp_path)
    assert listed.returncode == 0 and "fixture-slo" in listed.stdout
    for run in runs:
        shown = run_cli(["show", run["run_id"], "--store", db], env, tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert run["run_id"] in shown.stdout
    gated = run_cli(["gate", "--baseline", "main", "--candidate", runs[0]["run_id"], "--store", db], env, tmp_path)
    assert gated.returncode == 0 and "PASS" in gated.stdout, gated.stdout + gated.stderr
    compared = run_cli(["compare", "main", runs[0]["run_id"], "--store", db], env, tmp_path)
    assert compared.returncode == 0, compared.stderr
    report = tmp_path / "r.html"
    built = run_cli(["report", runs[1]["run_id"], "-o", str(report), "--store", db], env, tmp_path)
    assert built.returncode == 0 and report.stat().st_size > 100_000, built.stderr
    exported = run_cli(["export", runs[2]["run_id"], "-o", str(tmp_path / "x"), "--store", db], env, tmp_path)
    assert exported.returncode == 0 and len(list((tmp_path / "x").glob("*.csv"))) == 5


def test_stored_window_figures_are_what_the_formulas_give_today(released_store: Path):
    store = Store(str(released_store))
    compared = 0
    for run in store.runs():
        slo = parse_suite(run["suite_yaml"]).slo
        requests: dict[tuple[str, int], list[RequestRecord]] = {}
        for row in store.table_rows(request_table, run["run_id"]):
            record = RequestRecord(
                index=row["idx"],
                **{
                    k: row[k]
                    for k in (
                        "batch_index",
                        "t_sched_ns",
                        "t_send_ns",
                        "t_first_ns",
                        "t_end_ns",
                        "chunk_times_ns",
                        "chunk_tokens",
                        "n_in",
                        "n_out",
                        "n_in_source",
                        "n_out_source",
                        "error",
                    )
                },
            )
            requests.setdefault((row["point_id"], row["repetition"]), []).append(record)
        kinds = {p["point_id"]: p["config"]["workload"]["kind"] for p in store.points(run["run_id"])}
        stored = {
            (s["point_id"], s["repetition"], s["metric"]): s["value"]
            for s in store.summaries(run["run_id"], repetition=None)
        }
        for (point_id, rep), records in requests.items():
            figures = window_metrics(
                records, WindowSLO(**slo.model_dump()), offline_batches=kinds[point_id] != "serving"
            )
            for metric, value in figures.items():
                if (point_id, rep, metric) not in stored:  # a figure defined after that release
                    continue
                if value is None:
                    assert stored[(point_id, rep, metric)] is None, metric
                else:
                    assert stored[(point_id, rep, metric)] == pytest.approx(value, rel=1e-12), metric
                compared += 1
    assert compared > 600  # 7 points × 1–3 repetitions × every window figure


# ------------------------------------------------------------ versions, migration, foreign and damaged databases

TODAY_STORE = RELEASED_STORE.with_name("store-0.1.0-4e08ca3.db")  # written by main before the version was kept


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raw(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def _one_line(result, store: Path | str) -> str:
    """A refusal as the house rules want it: exit 2, one line naming the store, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(store) in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("fixture", "was"), [(RELEASED_STORE, "1.0"), (TODAY_STORE, "1.1")])
def test_an_older_store_is_migrated_and_its_figures_survive(fixture: Path, was: str, tmp_path: Path):
    db = tmp_path / "old.db"
    shutil.copyfile(fixture, db)
    figures = "SELECT run_id, point_id, repetition, metric, value, ci_low, ci_high FROM summary ORDER BY id"
    before = {t: _raw(db, f"SELECT * FROM {t}") for t in ("run", "point", "tag")}
    before_figures = _raw(db, figures)
    store = Store(str(db))
    assert store.migrated_from == was and not store.created
    meta = dict(_raw(db, "SELECT key, value FROM harness_meta"))
    assert meta[VERSION_KEY] == fmt(SCHEMA_VERSION) and f"migrated_from_{was}" in meta
    assert _raw(db, figures) == before_figures and len(before_figures) > 600
    for table, rows in before.items():
        assert _raw(db, f"SELECT * FROM {table}") == rows, table
    columns = {c[1] for c in _raw(db, "PRAGMA table_info(request)")}
    assert {"session", "turn", "n_cached"} <= columns
    assert {"calibration", "harness_meta"} <= {t for (t,) in _raw(db, "SELECT name FROM sqlite_master")}
    again = Store(str(db))  # a migrated store opens as it is
    assert again.migrated_from is None and again.runs() == store.runs()
    run_id = store.create_run("new", "h", "name: new", {}, "0")  # and takes new runs
    assert store.latest_run(include_unfinished=True) == run_id


def test_todays_store_reads_back_whole(tmp_path: Path, env: dict[str, str]):
    """Every kind of run main wrote before versioning (offline, serving, SLO search, multi-turn chat) still reads."""
    db = tmp_path / "today.db"
    shutil.copyfile(TODAY_STORE, db)
    store = Store(str(db))
    runs = {r["suite_name"]: r["run_id"] for r in store.runs()}
    assert set(runs) == {"fixture-offline", "fixture-serving", "fixture-slo", "fixture-chat"}
    chat = load_requests(store, runs["fixture-chat"])
    assert chat["session"].notna().any() and chat["turn"].max() >= 1
    assert store.resolve("main") == runs["fixture-offline"]
    offline = load_points(store, "main")
    assert (offline["status"] == "ok").all() and offline["output_throughput_tok_s"].notna().all()
    shown = run_cli(["show", runs["fixture-slo"], "--store", str(db)], env, tmp_path)
    assert shown.returncode == 0 and runs["fixture-slo"] in shown.stdout, shown.stderr


def _foreign(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
        conn.commit()
    return path


def test_a_foreign_database_is_refused_and_left_untouched(tmp_path: Path, env: dict[str, str]):
    db = _foreign(tmp_path / "app.db")
    digest = _digest(db)
    with pytest.raises(StoreError, match="not a harness results store .*users"):
        Store(str(db))
    for args in (["ls"], ["show", "x"], ["report"], ["tag", "x", "main"], ["import", str(db)]):
        line = _one_line(run_cli([*args, "--store", str(db)], env, tmp_path), db)
        assert "not a harness results store" in line, line
    suite = tmp_path / "s.yaml"
    suite.write_text(ECHO_SUITE)
    line = _one_line(run_cli(["run", str(suite), "--store", str(db), "--no-progress"], env, tmp_path), db)
    assert "not a harness results store" in line
    assert _digest(db) == digest  # no table, no journal mode, nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "s.yaml"]  # no -wal / -shm beside it


def test_a_file_that_is_not_sqlite_is_refused_with_one_line(tmp_path: Path, env: dict[str, str]):
    db = tmp_path / "suite.yaml"
    db.write_text("name: not a database\n" * 50)
    digest = _digest(db)
    line = _one_line(run_cli(["ls", "--store", str(db)], env, tmp_path), db)
    assert "file is not a database" in line
    assert _digest(db) == digest


def test_a_newer_major_is_refused_and_a_newer_minor_opens(tmp_path: Path, env: dict[str, str]):
    db = tmp_path / "r.db"
    Store(str(db)).engine.dispose()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE harness_meta SET value = ? WHERE key = ?", (f"{SCHEMA_VERSION[0] + 1}.0", VERSION_KEY))
        conn.commit()
    digest = _digest(db)
    with pytest.raises(StoreError, match=r"newer harness \(store schema 2\.0"):
        Store(str(db))
    line = _one_line(run_cli(["ls", "--store", str(db)], env, tmp_path), db)
    assert "upgrade the harness" in line
    assert _digest(db) == digest
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE harness_meta SET value = ? WHERE key = ?", (f"{SCHEMA_VERSION[0]}.99", VERSION_KEY))
        conn.commit()
    assert Store(str(db)).runs() == []  # only additions since: this harness reads what it knows
    assert dict(_raw(db, "SELECT key, value FROM harness_meta"))[VERSION_KEY] == f"{SCHEMA_VERSION[0]}.99"


def test_damage_in_mid_file_is_one_line_never_a_traceback(tmp_path: Path, env: dict[str, str]):
    db = tmp_path / "damaged.db"
    shutil.copyfile(TODAY_STORE, db)
    runs = [r for (r,) in _raw(db, "SELECT run_id FROM run ORDER BY started_at")]
    with db.open("r+b") as f:  # 8 KiB of junk in the middle: B-tree pages of the requests and samples
        f.seek(db.stat().st_size // 2 - 4096)
        f.write(b"\xa5" * 8192)
    refused = 0
    commands = [["ls"], *(["show", r] for r in runs), *(["export", r, "-o", str(tmp_path / r)] for r in runs)]
    for args in commands:
        result = run_cli([*args, "--store", str(db)], env, tmp_path)
        assert "Traceback" not in result.stderr, result.stderr
        if result.returncode != 0:  # pages a command never reads cannot fail it
            assert "database disk image is malformed" in _one_line(result, db)
            refused += 1
    assert refused >= 2
    with db.open("r+b") as f:  # the header too: the file no longer reads as SQLite at all
        f.write(b"\x00" * 100)
    assert "file is not a database" in _one_line(run_cli(["ls", "--store", str(db)], env, tmp_path), db)


def test_concurrent_openers_migrate_a_store_once(tmp_path: Path):
    db = tmp_path / "old.db"
    shutil.copyfile(RELEASED_STORE, db)
    code = "import sys; from harness.results.store import Store; print(len(Store(sys.argv[1]).runs()))"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "3", err
    assert dict(_raw(db, "SELECT key, value FROM harness_meta"))[VERSION_KEY] == fmt(SCHEMA_VERSION)


@pytest.mark.skipif(not pg.available(), reason="PostgreSQL server binaries not installed (.ci/run installs them)")
def test_postgres_store_is_versioned_and_a_foreign_database_refused():
    from sqlalchemy import create_engine, text

    with pg.postgres_server() as url:
        with pytest.raises(StoreError, match="holds no harness store"):
            Store(url, create=False)  # an empty database is not a store to read
        store = Store(url)
        assert store.created and store.latest_run() is None
        store.engine.dispose()
        engine = create_engine(url)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT value FROM harness_meta WHERE key = 'schema_version'")).scalar() == (
                fmt(SCHEMA_VERSION)
            )
            conn.execute(text("DROP TABLE harness_meta"))  # what main wrote before the version was kept
        assert Store(url, create=False).migrated_from == "1.1"
        with engine.begin() as conn:
            for table in ("harness_meta", "tag", "summary", "sample", "request", "point", "run", "calibration"):
                conn.execute(text(f'DROP TABLE "{table}"'))
            conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
        engine.dispose()
        with pytest.raises(StoreError, match="not a harness results store") as refused:
            Store(url)
        assert "harness@127.0.0.1" in str(refused.value)
        engine = create_engine(url)
        with engine.connect() as conn:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            assert list(tables) == ["users"]
        engine.dispose()


def test_a_store_caught_mid_creation_is_finished_not_called_foreign(tmp_path: Path):
    """Another process creating a store (SQLite DDL is not transactional) leaves some harness tables and no version
    for a moment; a reader that opens it then (a test polling, `harness ls` at a run's start) finishes the creation
    instead of calling it a foreign database."""
    from sqlalchemy import create_engine, inspect

    from harness.results.schema import metadata

    path = tmp_path / "half.db"
    engine = create_engine(f"sqlite:///{path}")
    for name in ("request", "run"):  # what a reader saw in the middle of another process's create_all
        metadata.tables[name].create(engine)
    engine.dispose()
    store = Store(str(path))
    assert store.runs() == []
    assert "harness_meta" in inspect(create_engine(f"sqlite:///{path}")).get_table_names()
