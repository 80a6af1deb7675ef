"""The results store: one schema on SQLite (default) or any SQLAlchemy URL.

Everything a point produced is written in one transaction, so a crash or a kill loses at most the point in flight,
and ``--resume`` can trust that a point marked ``ok`` is complete.

Opening a store checks what it is before writing anything (``harness.results.versions``): a missing store is
created only when asked (``create=True``, what ``harness run`` does), an older one is migrated, and a foreign
database or a newer major is refused. Every database error becomes a ``StoreError`` of one line naming the store.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, create_engine, delete, event, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from harness.hints import missing_module
from harness.records import RequestRecord
from harness.redact import redact, redact_yaml
from harness.results.liveness import DRIVER_KEY
from harness.results.location import (
    DATABASE_ERRORS,
    DEFAULT_STORE,
    StoreError,
    database_error,
    guarded,
    locate,
    normalize_url,
    store_exists,
)
from harness.results.point_rows import PointResult
from harness.results.schema import (
    AGGREGATE,
    RUN_TABLES,
    calibration_table,
    point_table,
    request_table,
    run_table,
    sample_table,
    summary_table,
    tag_table,
)
from harness.results.versions import SCHEMA_VERSION, NotAStore, fmt, open_schema

# the statuses of a run that ended on its own (``interrupted`` and ``running`` did not)
FINISHED_STATUSES = ("finished", "finished_with_failures")
__all__ = [
    "AGGREGATE",
    "DEFAULT_STORE",
    "RUN_TABLES",
    "PointResult",
    "Store",
    "StoreError",
    "normalize_url",
    "request_table",
    "sample_table",
    "store_exists",
    "summary_table",
]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (report, ls) don't block the sweep's writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    """A results store. ``create=False`` (what reading needs) refuses a store that does not exist instead of
    creating an empty one; ``create=True`` (what ``harness run`` needs) creates it and its parent directories,
    listed in ``created_dirs``. ``name`` is what messages call it: an absolute path, or the URL without password."""

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        where = locate(url, create)
        self.url, self.name, self.path, self.created_dirs = where.url, where.name, where.path, where.created_dirs
        try:
            self.engine: Engine = create_engine(self.url, future=True)
        except ImportError as exc:  # the URL's driver (psycopg for PostgreSQL) is an extra
            raise StoreError(f"cannot open results store {self.name}: {missing_module(exc, 'this URL')}") from None
        except Exception as exc:  # an unknown dialect
            raise StoreError(f"cannot open results store {self.name}: {str(exc).splitlines()[0]}") from None
        try:
            found = open_schema(self.engine, create)
        except NotAStore as exc:
            self.engine.dispose()
            raise StoreError(f"results store {self.name}: {exc}") from None
        except DATABASE_ERRORS as exc:
            self.engine.dispose()
            raise database_error(exc, self.name, "cannot open results store") from None
        self.created = found.empty
        self.migrated_from = fmt(found.version) if found.version and found.version < SCHEMA_VERSION else None
        if self.path is not None:
            # only now that it is known to be a harness store: the journal mode is written into the file
            self.engine.dispose()
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @guarded
    def latest_run(self, include_unfinished: bool = False) -> str | None:
        """The run started last among those that finished (with or without failed points); with
        ``include_unfinished``, among all (a run still going, interrupted or whose process died)."""
        query = select(run_table.c.run_id).order_by(run_table.c.started_at.desc()).limit(1)
        if not include_unfinished:
            query = query.where(run_table.c.status.in_(FINISHED_STATUSES))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return row[0] if row else None

    # ------------------------------------------------------------ runs

    @guarded
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
                    suite_yaml=redact_yaml(suite_yaml),  # secrets never reach the store (harness.redact)
                    started_at=time.time(),
                    status="running",
                    fingerprint=redact(fingerprint),
                    harness_version=harness_version,
                )
            )
        return run_id

    @guarded
    def claim_run(self, run_id: str, driver: dict[str, Any]) -> None:
        """A resumed run is ``running`` again, driven by ``driver`` (``harness.results.liveness``)."""
        fingerprint = {**(self.get_run(run_id)["fingerprint"] or {}), DRIVER_KEY: driver}
        self._update_run(run_id, status="running", finished_at=None, fingerprint=fingerprint)

    @guarded
    def finish_run(self, run_id: str, status: str) -> None:
        self._update_run(run_id, status=status, finished_at=time.time())

    def _update_run(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(run_table).where(run_table.c.run_id == run_id).values(**values))

    @guarded
    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(run_table).where(run_table.c.run_id == run_id)).mappings().first()
            if row is None:
                rows = conn.execute(select(run_table).where(run_table.c.run_id.like(f"{run_id}%"))).mappings().all()
                if len(rows) != 1:
                    raise StoreError(f"unknown run {run_id!r}" if not rows else f"run id {run_id!r} is ambiguous")
                row = rows[0]
        return dict(row)

    @guarded
    def resolve(self, ref: str) -> str:
        """A run id from a tag name, a run id or a unique prefix of one."""
        with self.engine.connect() as conn:
            tagged = conn.execute(select(tag_table.c.run_id).where(tag_table.c.name == ref)).first()
        return self.get_run(tagged[0] if tagged else ref)["run_id"]

    @guarded
    def set_tag(self, name: str, run_id: str) -> None:
        """Point ``name`` at ``run_id`` (a tag moves, like a git branch)."""
        run_id = self.get_run(run_id)["run_id"]
        with self.engine.begin() as conn:
            conn.execute(delete(tag_table).where(tag_table.c.name == name))
            conn.execute(insert(tag_table).values(name=name, run_id=run_id, created_at=time.time()))

    @guarded
    def tags(self) -> dict[str, list[str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tag_table.c.run_id, tag_table.c.name).order_by(tag_table.c.name)).all()
        found: dict[str, list[str]] = {}
        for run_id, name in rows:
            found.setdefault(run_id, []).append(name)
        return found

    @guarded
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

    @guarded
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

    @guarded
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

    @guarded
    def completed_points(self, run_id: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(point_table.c.point_id).where(point_table.c.run_id == run_id, point_table.c.status == "ok")
            ).all()
        return {r[0] for r in rows}

    @guarded
    def write_point(self, run_id: str, point_row: dict[str, Any], result: PointResult | None) -> None:
        """Replace everything stored for this point with ``result``, atomically."""
        point_id = point_row["point_id"]
        with self.engine.begin() as conn:
            for table in (request_table, sample_table, summary_table, point_table):
                conn.execute(delete(table).where(table.c.run_id == run_id, table.c.point_id == point_id))
            conn.execute(insert(point_table).values(run_id=run_id, **redact(point_row)))
            if result is None:
                return
            for table, rows in (
                (request_table, redact(result.request_rows(run_id))),
                (sample_table, result.sample_rows(run_id)),
                (summary_table, result.summary_rows(run_id)),
            ):
                if rows:
                    conn.execute(insert(table), rows)

    @guarded
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
                .values(describe={**(row[0] or {}), **redact(extra)})
            )

    @guarded
    def points(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(point_table).where(point_table.c.run_id == run_id).order_by(point_table.c.idx))
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    @guarded
    def summaries(self, run_id: str, repetition: int | None = AGGREGATE) -> list[dict[str, Any]]:
        query = select(summary_table).where(summary_table.c.run_id == run_id)
        if repetition is not None:
            query = query.where(summary_table.c.repetition == repetition)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    @guarded
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

    @guarded
    def import_rows(self, rows: dict[str, list[dict[str, Any]]], replace: bool = False) -> None:
        """Insert a whole run (``{table name: rows}``) in one transaction."""
        run_id = rows["run"][0]["run_id"]
        with self.engine.begin() as conn:
            exists = conn.execute(select(run_table.c.run_id).where(run_table.c.run_id == run_id)).first()
            if exists and not replace:
                raise StoreError(f"run {run_id} is already in {self.name} (use --replace)")
            for table in reversed(RUN_TABLES):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            for table in RUN_TABLES:  # a bundle from an older harness may hold what this one redacts
                batch = [redact({k: v for k, v in r.items() if k != "id"}) for r in rows.get(table.name, [])]
                if batch:
                    conn.execute(insert(table), batch)

    @guarded
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

    @guarded
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

    @guarded
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

    @guarded
    def calibrations(self, device_key: str | None = None) -> list[dict[str, Any]]:
        """Stored calibrations, newest first (of one device when ``device_key`` is given), each ``record`` with
        its ``id``."""
        query = select(calibration_table).order_by(calibration_table.c.created_at.desc())
        if device_key is not None:
            query = query.where(calibration_table.c.device_key == device_key)
        with self.engine.connect() as conn:
            return [{**row["record"], "id": row["id"]} for row in conn.execute(query).mappings()]

    @guarded
    def table_rows(self, table: Table, run_id: str) -> Iterable[dict[str, Any]]:
        with self.engine.connect() as conn:
            yield from (dict(r) for r in conn.execute(select(table).where(table.c.run_id == run_id)).mappings())


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
