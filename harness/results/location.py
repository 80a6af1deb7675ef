"""Where a store is and what its errors say: a path or URL resolved (an in-memory database refused, a missing file
refused or created with its folders), and every database error turned into one line naming the store."""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

# Relative to the current directory, like a build folder: `harness run` prints the absolute path it wrote to, and
# a read command that finds no store here names the absolute path it looked at.
DEFAULT_STORE = "results/harness.db"

# ValueError: a damaged JSON or number cell raises it while a row is read
DATABASE_ERRORS = (SQLAlchemyError, sqlite3.Error, ValueError)

# what a user can do about the common SQLite errors, keyed by a piece of the driver's message
_HINTS = {
    "malformed": " (the file is damaged; restore it from a copy)",
    "file is not a database": " (not a SQLite database, or its header is damaged)",
    "readonly": " (no permission to write it)",
    "unable to open": " (check the path and its permissions)",
    "locked": " (another process holds a lock on it; try again)",
}


class StoreError(Exception):
    pass


def normalize_url(url_or_path: str | None) -> str:
    """A SQLAlchemy URL, or a file path meaning SQLite."""
    target = url_or_path or DEFAULT_STORE
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser()}"


def store_exists(url_or_path: str | None) -> bool:
    """False only for a SQLite file that is not there (a server database is asked when opened)."""
    url = make_url(normalize_url(url_or_path))
    return url.get_backend_name() != "sqlite" or Path(url.database or "").is_file()


@dataclass
class Location:
    """``name`` is what messages call the store: an absolute path, or the URL without its password."""

    url: str
    name: str
    path: Path | None = None  # the SQLite file
    created_dirs: list[Path] = field(default_factory=list)


def locate(url_or_path: str | None, create: bool) -> Location:
    """Resolve a store; only with ``create`` may a missing SQLite file's folders be made (listed, outermost first)."""
    url = normalize_url(url_or_path)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"results store {url!r} is neither a file path nor a SQLAlchemy URL: {exc}") from None
    where = Location(url, parsed.render_as_string(hide_password=True))
    if parsed.get_backend_name() != "sqlite":
        return where
    database = parsed.database or ""
    if database in ("", ":memory:") or "mode=memory" in url:
        raise StoreError(
            f"results store {where.name!r} is an in-memory database: what is stored there is lost when the command "
            "ends; name a file"
        )
    where.path = path = Path(database).absolute()
    where.name = str(path)
    if path.exists():
        if not path.is_file():
            raise StoreError(f"results store {where.name}: not a file")
        return where
    if not create:
        default = (
            " (the default store, relative to the current directory)"
            if url_or_path in (None, "", DEFAULT_STORE)
            else ""
        )
        raise StoreError(
            f"no results store at {where.name}{default}: check --store (or HARNESS_STORE); `harness run` creates one"
        )
    where.created_dirs = [p for p in reversed(path.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create results store {where.name}: {exc.strerror or exc}") from None
    return where


def database_error(exc: BaseException, name: str, doing: str = "results store") -> StoreError:
    """One line naming the store: the driver's own message (not SQLAlchemy's SQL dump), and a hint."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(exc, ValueError):
        first = f"a stored value does not read ({first})"
    hint = next((h for key, h in _HINTS.items() if key in first.lower()), "")
    return StoreError(f"{doing} {name}: {first}{hint}")


F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Database errors from a store's ``method`` (for a generator, while it is iterated) become one-line
    ``StoreError``s naming the store (``self.name``)."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(self, *args, **kwargs)
            except DATABASE_ERRORS as exc:
                raise database_error(exc, self.name) from None

        return cast(F, generator)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except DATABASE_ERRORS as exc:
            raise database_error(exc, self.name) from None

    return cast(F, wrapper)
