"""Database URLs, SQLite connection settings, and what opening a database that is not there says."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.errors import InvalidSpec, Unavailable
from waypost.store import Store
from waypost.store.engine import SQLITE_BUSY_TIMEOUT_MS, create_store_engine, database_url


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        pytest.param("postgresql://u:p@db:5433/waypost", "postgresql+psycopg", "waypost", id="pg"),
        pytest.param("postgres://u@db/waypost", "postgresql+psycopg", "waypost", id="pg-short"),
        pytest.param("postgresql+psycopg://u@db/w", "postgresql+psycopg", "w", id="psycopg"),
        pytest.param("sqlite:////var/lib/w.db", "sqlite+pysqlite", "/var/lib/w.db", id="sqlite"),
        pytest.param("sqlite:///w.db", "sqlite+pysqlite", "w.db", id="sqlite-relative"),
    ],
)
def test_accepted_urls(given: str, driver: str, database: str) -> None:
    url = database_url(given)
    assert (url.drivername, url.database) == (driver, database)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param("sqlite://", "give a file path", id="sqlite-memory-short"),
        pytest.param("sqlite:///:memory:", "give a file path", id="sqlite-memory"),
        pytest.param("mysql://u@db/waypost", "unsupported database 'mysql'", id="mysql"),
        pytest.param("postgresql+asyncpg://u@db/w", "unsupported database", id="async-driver"),
        pytest.param("not a url", "not a database URL", id="garbage"),
    ],
)
def test_refused_urls(given: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message) as caught:
        database_url(given)
    assert caught.value.problems[0].field == "database_url"


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_a_sqlite_file_in_a_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot open the database sqlite"):
        Store.open(f"sqlite:///{tmp_path / 'missing' / 'w.db'}")


def test_an_unreachable_postgresql_is_unavailable_and_hides_the_password(tmp_path: Path) -> None:
    url = f"postgresql://postgres:secret@/waypost?host={tmp_path}&port=1"
    with pytest.raises(Unavailable, match="cannot open the database") as caught:
        Store.open(url)
    assert "secret" not in caught.value.message
    assert "***" in caught.value.message
