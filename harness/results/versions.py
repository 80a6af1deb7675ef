"""Store schema versions: recognise a harness store, refuse what is not one (or is newer), migrate older ones.

A version is ``MAJOR.MINOR``. A minor step only adds tables or nullable columns, so a store one minor ahead still
opens (this harness ignores what it does not know); a major step changes what is there, and a store of a newer major
is refused. Stores written before the version was kept are recognised by their layout:

====  ==============================================================================
1.0   release 0.1.0: run, point, request, sample, summary, tag
1.1   request.session / turn / n_cached and the calibration table
1.2   the ``harness_meta`` table holding the version (nothing else changed)
====  ==============================================================================

Migrating is additive and idempotent (missing tables and columns are created, then the version is written last), so
a migration cut short is simply done again by the next open, and two processes opening one store at once both end
with the same schema.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from harness import __version__
from harness.results.schema import meta_table, metadata

SCHEMA_VERSION = (1, 2)
VERSION_KEY = "schema_version"
# the columns that tell a harness store written before 1.2 from another program's table called "run"
_LEGACY_RUN_COLUMNS = {"run_id", "suite_name", "suite_hash", "suite_yaml", "fingerprint", "harness_version"}


class NotAStore(Exception):
    """The database is not a harness store this harness may open (the message says why, without naming it)."""


class Unfinished(NotAStore):
    """Only some of the harness's tables and no run table yet: another process may be creating the store now."""


@dataclass(frozen=True)
class Found:
    """What an open found: ``version`` is None for an empty database (no tables at all)."""

    version: tuple[int, int] | None

    @property
    def empty(self) -> bool:
        return self.version is None


def fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _parse(value: str) -> tuple[int, int]:
    major, _, minor = value.strip().partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise NotAStore(f"its harness_meta table holds an unreadable schema version {value!r}") from None


def inspect_store(engine: Engine) -> Found:
    """Read, never write: which schema version the database holds. Raises ``NotAStore``."""
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    if not tables:
        return Found(None)
    if meta_table.name in tables:
        with engine.connect() as conn:
            row = conn.execute(select(meta_table.c.value).where(meta_table.c.key == VERSION_KEY)).first()
        if row is not None:
            return Found(_parse(row[0]))
        if tables <= set(metadata.tables):  # a creation cut short (on SQLite DDL is not transactional): finish it
            return Found((1, 1))
        raise NotAStore("its harness_meta table holds no schema version")
    ours = "run" in tables and _LEGACY_RUN_COLUMNS <= {c["name"] for c in inspector.get_columns("run")}
    if ours and "point" in tables:
        has_sessions = "request" in tables and "session" in {c["name"] for c in inspector.get_columns("request")}
        return Found((1, 1) if has_sessions else (1, 0))
    if ours and tables <= set(metadata.tables):
        # only harness tables, our run table among them, no version yet: another process is creating the store
        # this moment (or its creation was cut short; on SQLite DDL is not transactional): finish it
        return Found((1, 1))
    shown = ", ".join(sorted(tables)[:6]) + (", …" if len(tables) > 6 else "")
    error = Unfinished if tables <= set(metadata.tables) else NotAStore  # a few of ours: a creation under way?
    raise error(f"it is not a harness results store (it holds other tables: {shown}); name another --store")


def check_readable(found: Found) -> None:
    """Refuse a store of a newer major version than this harness knows."""
    if found.version is not None and found.version[0] > SCHEMA_VERSION[0]:
        raise NotAStore(
            f"it was written by a newer harness (store schema {fmt(found.version)}, this harness {__version__} reads "
            f"{SCHEMA_VERSION[0]}.x); upgrade the harness to read it"
        )


def _add_missing_columns(conn: Connection) -> None:
    """Columns added in a minor version (all nullable) are added to an older store's tables; old rows read NULL."""
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:  # a minor version never adds one; a major version migrates explicitly
                raise NotAStore(f"its {table.name} table lacks column {column.name} and cannot be migrated")
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))


def _write_version(conn: Connection, before: tuple[int, int] | None) -> None:
    have = {k: v for k, v in conn.execute(select(meta_table.c.key, meta_table.c.value))}
    rows = {VERSION_KEY: fmt(SCHEMA_VERSION), "written_by": f"harness {__version__}"}
    if before is None:
        rows["created"] = f"{time.time():.0f} by harness {__version__}"
    else:
        rows[f"migrated_from_{fmt(before)}"] = f"{time.time():.0f} by harness {__version__}"
    for key, value in rows.items():
        if key in have:
            conn.execute(update(meta_table).where(meta_table.c.key == key).values(value=value))
        else:
            conn.execute(insert(meta_table).values(key=key, value=value))


def _racing(exc: SQLAlchemyError) -> bool:
    """Another process creating or migrating the same store at the same moment."""
    message = str(exc.orig if isinstance(exc, DBAPIError) else exc).lower()
    return any(s in message for s in ("already exists", "duplicate column", "unique constraint", "locked", "deadlock"))


def open_schema(engine: Engine, create: bool) -> Found:
    """Make ``engine``'s database a store of this version: create it when empty (only when ``create``), migrate it
    when older, leave it alone when it is this version or a newer minor. Returns what was found before.
    Raises ``NotAStore`` for an empty database when not ``create``, a foreign one or a newer major."""
    for attempt in range(6):
        try:
            found = inspect_store(engine)
        except Unfinished:
            if attempt < 5:
                time.sleep(0.2)
                continue
            raise
        check_readable(found)
        if found.empty and not create:
            raise NotAStore("it holds no harness store (an empty database)")
        if found.version is not None and found.version >= SCHEMA_VERSION:
            return found
        try:
            # one transaction: on PostgreSQL another process sees all of it or nothing (DDL is transactional)
            with engine.begin() as conn:
                metadata.create_all(conn)  # the tables it lacks (checkfirst)
                _add_missing_columns(conn)
                _write_version(conn, found.version)
            return found
        except SQLAlchemyError as exc:
            if attempt < 5 and _racing(exc):
                time.sleep(0.2)
                continue
            raise
    raise AssertionError("unreachable")
