"""The results store's schema: one table per thing a run produces, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

run_table = Table(
    "run",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("suite_name", String(200), nullable=False),
    Column("suite_hash", String(64), nullable=False),
    Column("suite_yaml", Text, nullable=False),
    Column("started_at", Float, nullable=False, doc="wall-clock epoch seconds"),
    Column("finished_at", Float),
    Column("status", String(20), nullable=False),
    Column("fingerprint", JSON, nullable=False),
    Column("harness_version", String(40), nullable=False),
)

point_table = Table(
    "point",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("point_id", String(64), primary_key=True),
    Column("idx", Integer, nullable=False),
    Column("group_id", String(64), nullable=False),
    Column("label", Text, nullable=False),
    Column("axes", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("describe", JSON),
    Column("started_ns", BigInteger),
    Column("finished_ns", BigInteger),
    ForeignKeyConstraint(["run_id"], ["run.run_id"]),
)

request_table = Table(
    "request",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("point_id", String(64), nullable=False),
    Column("repetition", Integer, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("batch_index", Integer, nullable=False),
    Column("t_sched_ns", BigInteger, nullable=False),
    Column("t_send_ns", BigInteger, nullable=False),
    Column("t_first_ns", BigInteger),
    Column("t_end_ns", BigInteger),
    Column("n_in", Integer),
    Column("n_out", Integer),
    Column("n_in_source", String(40)),
    Column("n_out_source", String(40)),
    Column("error", Text),
    Column("chunk_times_ns", JSON),
    Column("chunk_tokens", JSON),
    # schema 1.1 (after release 0.1.0): ``harness.results.versions`` adds them to an older store's table
    Column("session", Integer),
    Column("turn", Integer),
    Column("n_cached", Integer),
    Column("n_out_client", Integer),
    Column("t_arrival_ns", BigInteger),
    Index("ix_request_point", "run_id", "point_id"),
)

sample_table = Table(
    "sample",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("point_id", String(64), nullable=False),
    Column("repetition", Integer, nullable=False),
    Column("sampler", String(40), nullable=False),
    Column("field", String(80), nullable=False),
    Column("t_ns", BigInteger, nullable=False),
    Column("value", Float),
    Index("ix_sample_point", "run_id", "point_id"),
)

summary_table = Table(
    "summary",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("point_id", String(64), nullable=False),
    Column("repetition", Integer, nullable=False, doc="-1 for the aggregate across repetitions"),
    Column("metric", String(80), nullable=False),
    Column("value", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Index("ix_summary_point", "run_id", "point_id"),
)

tag_table = Table(
    "tag",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

calibration_table = Table(
    "calibration",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_key", String(300), nullable=False, doc="gpu:<uuid> or cpu:<model>@<host> (harness.hardware)"),
    Column("device_name", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("created_at", Float, nullable=False, doc="wall-clock epoch seconds"),
    Column("record", JSON, nullable=False, doc="the whole calibration: figures with CIs, skipped benchmarks"),
    Index("ix_calibration_device", "device_key"),
)

# What makes a database a harness store: its schema version and who wrote it (``harness.results.versions``).
meta_table = Table(
    "harness_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

AGGREGATE = -1
RUN_TABLES = (run_table, point_table, request_table, sample_table, summary_table)
