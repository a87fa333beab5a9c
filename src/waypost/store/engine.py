"""Engines for the two supported databases, and migrating them to the newest schema.

SQLite (the default, a file) runs in WAL mode with a busy timeout and foreign
keys on. Python's sqlite3 driver is told to keep out of transaction control and
SQLAlchemy emits BEGIN itself: plain ``BEGIN`` for reads, ``BEGIN IMMEDIATE``
for writes. Taking the write lock up front is what makes read-then-write
transactions (allocate a version number, compare-and-set a state) safe between
threads and processes: a deferred transaction that upgrades to a writer after
another writer committed fails at once with SQLITE_BUSY, busy timeout or not.

PostgreSQL goes through psycopg 3 (``postgresql://`` URLs are switched to it).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from waypost.errors import InvalidSpec, Problem, Unavailable

__all__ = ["WRITE", "create_store_engine", "database_url", "migrate"]

#: Execution option marking a connection that will write (see the module docstring).
WRITE = {"waypost_write": True}

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: How long a SQLite writer waits for the lock before giving up. Store transactions are
#: short, so waiting this long means something is wrong rather than busy.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Any constant will do: it only has to be the same in every process migrating one database.
_PG_MIGRATION_LOCK = 0x77617970  # "wayp"

_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}


def database_url(url: str) -> URL:
    """The URL the store connects to; InvalidSpec for one it cannot use."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise _bad_url(f"not a database URL: {url!r}") from exc
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in _SQLITE_DRIVERS:
        if parsed.database in (None, "", ":memory:"):
            raise _bad_url(
                "waypost keeps its state in a SQLite file or in PostgreSQL; "
                f"give a file path (sqlite:///path/to/waypost.db), not {url!r}"
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise _bad_url(
        f"unsupported database {parsed.drivername!r}: use sqlite:///path/to/file.db "
        "or postgresql://user@host/dbname"
    )


def _bad_url(message: str) -> InvalidSpec:
    return InvalidSpec.of([Problem(message, field="database_url")])


def create_store_engine(url: str) -> Engine:
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        # pre_ping: the control plane outlives PostgreSQL restarts.
        return create_engine(parsed, pool_pre_ping=True)
    engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # None: the driver emits no BEGIN of its own; _sqlite_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL mode (it stays so; later connections find it done).

    The switch needs the file to itself, and SQLite does not call the busy handler for
    that lock (to avoid deadlocks), so connections opening one new database at once got
    "database is locked" at once, busy timeout or not (about 1 in 10 of four threads
    opening a store together). They wait their turn here instead, within the timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    for _ in range(100_000):  # bounded by the deadline well before this
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _sqlite_begin(connection: Connection) -> None:
    writes = connection.get_execution_options().get("waypost_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def alembic_config() -> Config:
    """Alembic's configuration, built in code: no alembic.ini, nothing relative to the cwd."""
    config = Config()
    # ConfigParser interpolates "%": a path containing one must have it doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration, in one transaction; a no-op when it is.

    Two processes opening one new database at once take turns: SQLite through
    BEGIN IMMEDIATE, PostgreSQL through a transaction-scoped advisory lock.
    """
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    with engine.execution_options(**WRITE).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        # Checked here rather than left to alembic, which would log its setup on every open.
        applied = _applied(connection)
        if applied == scripts.get_current_head():
            return
        if applied is not None and not _known(scripts, applied):
            raise Unavailable(
                f"the database is at schema revision {applied}, which this version of waypost "
                "does not know: a newer waypost has migrated it; run that one"
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        scripts.get_revision(revision)
    except CommandError:
        return False
    return True


def _applied(connection: Connection) -> str | None:
    """The migration the database is at (alembic's own table), None for a new database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
