"""The results store: one schema on SQLite (default) or any SQLAlchemy URL.

Everything a point produced is written in one transaction, so a crash or a kill loses at most the point in flight,
and ``--resume`` can trust that a point marked ``ok`` is complete.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, delete, event, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from harness.hints import missing_module
from harness.records import RequestRecord, Timeline
from harness.results.schema import (
    AGGREGATE,
    RUN_TABLES,
    add_new_columns,
    calibration_table,
    metadata,
    point_table,
    request_table,
    run_table,
    sample_table,
    summary_table,
    tag_table,
)

DEFAULT_STORE = "results/harness.db"


class StoreError(Exception):
    pass


def normalize_url(url_or_path: str | None) -> str:
    """A SQLAlchemy URL, or a file path meaning SQLite."""
    target = url_or_path or DEFAULT_STORE
    if "://" in target:
        return target
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (report, ls) don't block the sweep's writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class PointResult:
    """Everything one point produced, handed to ``Store.write_point`` as one unit."""

    def __init__(self, point_id: str) -> None:
        self.point_id = point_id
        self.requests: list[tuple[int, RequestRecord]] = []
        self.timelines: list[tuple[int, Timeline]] = []
        self.summaries: list[tuple[int, str, float | None, float | None, float | None]] = []

    def request_rows(self, run_id: str) -> list[dict[str, Any]]:
        stored = {c.name for c in request_table.columns} - {"id", "run_id", "point_id", "repetition", "idx"}
        return [
            {
                "run_id": run_id,
                "point_id": self.point_id,
                "repetition": rep,
                "idx": r.index,
                **r.model_dump(include=stored),
            }
            for rep, r in self.requests
        ]

    def sample_rows(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {
                "run_id": run_id,
                "point_id": self.point_id,
                "repetition": rep,
                "sampler": tl.sampler,
                "field": field,
                "t_ns": t,
                "value": v,
            }
            for rep, tl in self.timelines
            for field, column in tl.values.items()
            for t, v in zip(tl.t_ns, column, strict=True)
        ]

    def summary_rows(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {
                "run_id": run_id,
                "point_id": self.point_id,
                "repetition": rep,
                "metric": m,
                "value": v,
                "ci_low": lo,
                "ci_high": hi,
            }
            for rep, m, v, lo, hi in self.summaries
        ]


class Store:
    def __init__(self, url: str | None = None) -> None:
        self.url = normalize_url(url)
        try:
            self.engine: Engine = create_engine(self.url, future=True)
        except ImportError as exc:  # the URL's driver (psycopg for PostgreSQL) is an extra
            raise StoreError(f"cannot open results store {self.url!r}: {missing_module(exc, 'this URL')}") from None
        except Exception as exc:
            raise StoreError(f"cannot open results store {self.url!r}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        for attempt in range(3):
            try:
                metadata.create_all(self.engine)
                add_new_columns(self.engine)
                break
            except Exception as exc:
                # two processes creating the schema at once: the loser sees "already exists" and retries
                if attempt < 2 and "already exists" in str(exc).lower():
                    time.sleep(0.2)
                    continue
                raise StoreError(f"cannot open results store {self.url!r}: {str(exc).splitlines()[0]}") from None

    # ------------------------------------------------------------ runs

    def create_run(
        self, suite_name: str, suite_hash: str, suite_yaml: str, fingerprint: dict[str, Any], harness_version: str
    ) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with self.engine.begin() as conn:
            conn.execute(
                insert(run_table).values(
                    run_id=run_id,
                    suite_name=suite_name,
                    suite_hash=suite_hash,
                    suite_yaml=suite_yaml,
                    started_at=time.time(),
                    status="running",
                    fingerprint=fingerprint,
                    harness_version=harness_version,
                )
            )
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(run_table).where(run_table.c.run_id == run_id).values(status=status, finished_at=time.time())
            )

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(run_table).where(run_table.c.run_id == run_id)).mappings().first()
            if row is None:
                rows = conn.execute(select(run_table).where(run_table.c.run_id.like(f"{run_id}%"))).mappings().all()
                if len(rows) != 1:
                    raise StoreError(f"unknown run {run_id!r}" if not rows else f"run id {run_id!r} is ambiguous")
                row = rows[0]
        return dict(row)

    def resolve(self, ref: str) -> str:
        """A run id from a tag name, a run id or a unique prefix of one."""
        with self.engine.connect() as conn:
            tagged = conn.execute(select(tag_table.c.run_id).where(tag_table.c.name == ref)).first()
        return self.get_run(tagged[0] if tagged else ref)["run_id"]

    def set_tag(self, name: str, run_id: str) -> None:
        """Point ``name`` at ``run_id`` (a tag moves, like a git branch)."""
        run_id = self.get_run(run_id)["run_id"]
        with self.engine.begin() as conn:
            conn.execute(delete(tag_table).where(tag_table.c.name == name))
            conn.execute(insert(tag_table).values(name=name, run_id=run_id, created_at=time.time()))

    def tags(self) -> dict[str, list[str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tag_table.c.run_id, tag_table.c.name).order_by(tag_table.c.name)).all()
        found: dict[str, list[str]] = {}
        for run_id, name in rows:
            found.setdefault(run_id, []).append(name)
        return found

    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(run_table).order_by(run_table.c.started_at)).mappings().all()
            counts = conn.execute(select(point_table.c.run_id, point_table.c.status)).all()
        tally: dict[str, dict[str, int]] = {}
        for run_id, status in counts:
            tally.setdefault(run_id, {}).setdefault(status, 0)
            tally[run_id][status] += 1
        tags = self.tags()
        return [{**dict(r), "points": tally.get(r["run_id"], {}), "tags": tags.get(r["run_id"], [])} for r in rows]

    def latest_resumable_run(self, suite_hash: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(run_table.c.run_id)
                .where(run_table.c.suite_hash == suite_hash)
                .order_by(run_table.c.started_at.desc())
                .limit(1)
            ).first()
        return row[0] if row else None

    # ------------------------------------------------------------ points

    def completed_metrics(self, run_id: str) -> dict[str, dict[str, float | None]]:
        """Points stored ``ok``, each with its medians across repetitions (what a resumed search reuses)."""
        done: dict[str, dict[str, float | None]] = {p: {} for p in self.completed_points(run_id)}
        query = select(summary_table.c.point_id, summary_table.c.metric, summary_table.c.value).where(
            summary_table.c.run_id == run_id, summary_table.c.repetition == AGGREGATE
        )
        with self.engine.connect() as conn:
            for point_id, metric, value in conn.execute(query):
                if point_id in done:
                    done[point_id][metric] = value
        return done

    def completed_points(self, run_id: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(point_table.c.point_id).where(point_table.c.run_id == run_id, point_table.c.status == "ok")
            ).all()
        return {r[0] for r in rows}

    def write_point(self, run_id: str, point_row: dict[str, Any], result: PointResult | None) -> None:
        """Replace everything stored for this point with ``result``, atomically."""
        point_id = point_row["point_id"]
        with self.engine.begin() as conn:
            for table in (request_table, sample_table, summary_table, point_table):
                conn.execute(delete(table).where(table.c.run_id == run_id, table.c.point_id == point_id))
            conn.execute(insert(point_table).values(run_id=run_id, **point_row))
            if result is None:
                return
            for table, rows in (
                (request_table, result.request_rows(run_id)),
                (sample_table, result.sample_rows(run_id)),
                (summary_table, result.summary_rows(run_id)),
            ):
                if rows:
                    conn.execute(insert(table), rows)

    def update_describe(self, run_id: str, point_id: str, extra: dict[str, Any]) -> None:
        """Merge ``extra`` into a stored point's ``describe`` (e.g. which search trial was best, known at the end)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(point_table.c.describe).where(point_table.c.run_id == run_id, point_table.c.point_id == point_id)
            ).first()
            if row is None:
                return
            conn.execute(
                update(point_table)
                .where(point_table.c.run_id == run_id, point_table.c.point_id == point_id)
                .values(describe={**(row[0] or {}), **extra})
            )

    def points(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(point_table).where(point_table.c.run_id == run_id).order_by(point_table.c.idx))
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def summaries(self, run_id: str, repetition: int | None = AGGREGATE) -> list[dict[str, Any]]:
        query = select(summary_table).where(summary_table.c.run_id == run_id)
        if repetition is not None:
            query = query.where(summary_table.c.repetition == repetition)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def repetition_values(self, run_id: str) -> dict[str, dict[str, list[float]]]:
        """``{point_id: {metric: [value per repetition]}}`` — what the gate tests."""
        values: dict[str, dict[str, list[float]]] = {}
        query = (
            select(summary_table.c.point_id, summary_table.c.metric, summary_table.c.value)
            .where(summary_table.c.run_id == run_id, summary_table.c.repetition != AGGREGATE)
            .order_by(summary_table.c.point_id, summary_table.c.repetition)
        )
        with self.engine.connect() as conn:
            for point_id, metric, value in conn.execute(query):
                if value is not None:
                    values.setdefault(point_id, {}).setdefault(metric, []).append(value)
        return values

    def import_rows(self, rows: dict[str, list[dict[str, Any]]], replace: bool = False) -> None:
        """Insert a whole run (``{table name: rows}``) in one transaction."""
        run_id = rows["run"][0]["run_id"]
        with self.engine.begin() as conn:
            exists = conn.execute(select(run_table.c.run_id).where(run_table.c.run_id == run_id)).first()
            if exists and not replace:
                raise StoreError(f"run {run_id} is already in {self.url} (use --replace)")
            for table in reversed(RUN_TABLES):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            for table in RUN_TABLES:
                batch = [{k: v for k, v in r.items() if k != "id"} for r in rows.get(table.name, [])]
                if batch:
                    conn.execute(insert(table), batch)

    def first_repetition_samples(self, run_id: str, field_suffixes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Per point, the samples of its first measured repetition whose field ends with one of ``field_suffixes``:
        ``{point_id: {"rep": n, "series": {(sampler, field): ([t_ns], [value])}}}`` (the report's timelines)."""
        sc = sample_table.c
        first_rep = (
            select(sc.point_id, func.min(sc.repetition).label("rep"))
            .where(sc.run_id == run_id)
            .group_by(sc.point_id)
            .subquery()
        )
        query = (
            select(sc.point_id, sc.repetition, sc.sampler, sc.field, sc.t_ns, sc.value)
            .join(first_rep, (first_rep.c.point_id == sc.point_id) & (first_rep.c.rep == sc.repetition))
            .where(sc.run_id == run_id, or_(*[sc.field.like(f"%{s}") for s in field_suffixes]))
            .order_by(sc.point_id, sc.sampler, sc.field, sc.t_ns)
        )
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for point_id, rep, sampler, field, t_ns, value in conn.execute(query):
                entry = out.setdefault(point_id, {"rep": rep, "series": {}})
                ts, vs = entry["series"].setdefault((sampler, field), ([], []))
                ts.append(t_ns)
                vs.append(value)
        return out

    def request_events(self, run_id: str, repetitions: dict[str, int]) -> dict[str, list[RequestRecord]]:
        """Per point, the timing events (no token lists) of its requests in repetition ``repetitions[point_id]``
        (0 when not named)."""
        rc = request_table.c
        query = select(
            rc.point_id, rc.repetition, rc.idx, rc.batch_index, rc.t_sched_ns, rc.t_send_ns, rc.t_first_ns, rc.t_end_ns
        ).where(rc.run_id == run_id)
        out: dict[str, list[RequestRecord]] = {}
        with self.engine.connect() as conn:
            for point_id, rep, idx, batch, t_sched, t_send, t_first, t_end in conn.execute(query):
                if repetitions.get(point_id, 0) != rep:
                    continue
                out.setdefault(point_id, []).append(
                    RequestRecord(
                        index=idx,
                        batch_index=batch,
                        t_sched_ns=t_sched,
                        t_send_ns=t_send,
                        t_first_ns=t_first,
                        t_end_ns=t_end,
                    )
                )
        return out

    # ------------------------------------------------------------ calibrations (harness calibrate)

    def save_calibration(self, record: dict[str, Any]) -> int:
        """Store one device's calibration (``harness.hardware.calibration.Calibration`` as a dict); its id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(calibration_table).values(
                    device_key=record["device_key"],
                    device_name=record["device_name"],
                    kind=record["kind"],
                    created_at=record.get("created_at") or time.time(),
                    record=record,
                )
            )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def calibrations(self, device_key: str | None = None) -> list[dict[str, Any]]:
        """Stored calibrations, newest first (of one device when ``device_key`` is given), each ``record`` with
        its ``id``."""
        query = select(calibration_table).order_by(calibration_table.c.created_at.desc())
        if device_key is not None:
            query = query.where(calibration_table.c.device_key == device_key)
        with self.engine.connect() as conn:
            return [{**row["record"], "id": row["id"]} for row in conn.execute(query).mappings()]

    def table_rows(self, table: Table, run_id: str) -> Iterable[dict[str, Any]]:
        with self.engine.connect() as conn:
            yield from (dict(r) for r in conn.execute(select(table).where(table.c.run_id == run_id)).mappings())


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
