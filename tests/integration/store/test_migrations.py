"""Opening migrates to the newest schema, once; it matches ``tables``; the alembic CLI works."""

from __future__ import annotations

import io
import threading
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text

from tests.integration.store.helpers import key, make_version
from waypost.errors import Unavailable
from waypost.store import Store
from waypost.store.engine import MIGRATIONS, alembic_config, create_store_engine
from waypost.store.tables import Base

TABLES = {
    "aliases",
    "alembic_version",
    "deployments",
    "endpoints",
    "events",
    "log_sinks",
    "models",
    "project_secrets",
    "projects",
    "replicas",
    "route_revision",
    "tokens",
    "versions",
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A second way into the store's database, to look at its schema."""
    made = create_store_engine(database_url)
    yield made
    made.dispose()


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_open_migrates_a_new_database_to_the_newest_schema(
    database_url: str, engine: Engine
) -> None:
    assert inspect(engine).get_table_names() == []
    Store.open(database_url).close()

    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head()
        assert connection.execute(text("SELECT id, revision FROM route_revision")).all() == [(1, 0)]


def test_the_migrated_schema_matches_the_tables_module(store: Store, engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_opening_again_changes_nothing(store: Store, database_url: str) -> None:
    make_version(store)
    store.record_transition(key(), store.get_endpoint(key()).state, reason="r", actor="a")
    before = (store.route_revision(), store.list_events(), store.list_endpoints())
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]).lstrip().split()[0].upper())

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        with Store.open(database_url) as again:
            after = (again.route_revision(), again.list_events(), again.list_endpoints())
    finally:
        event.remove(Engine, "before_cursor_execute", seen)

    assert after == before
    assert not {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"} & set(statements)


def test_a_database_migrated_by_a_newer_waypost_is_refused_with_a_sentence(
    store: Store, database_url: str, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(Unavailable, match="schema revision 9999, which this version"):
        Store.open(database_url)


def open_at_once(url: str, count: int = 4) -> tuple[list[Store], list[BaseException]]:
    """``count`` threads opening a store on ``url`` together: the stores, the errors."""
    opened: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def open_store() -> None:
        barrier.wait(timeout=30)
        try:
            opened.append(Store.open(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return opened, errors


def test_stores_opening_one_new_database_at_once_all_succeed(database_url: str) -> None:
    opened, errors = open_at_once(database_url)
    try:
        assert errors == []
        assert len(opened) == 4
        make_version(opened[0])
        assert [v.number for v in opened[3].list_versions("acme", "shop", "hello")] == [1]
    finally:
        for s in opened:
            s.close()


def test_new_sqlite_files_opened_by_four_threads_at_once_never_report_locked(
    tmp_path: Path,
) -> None:
    """Switching a new file to WAL takes a lock SQLite's busy timeout does not wait for;
    one round in ten failed before the switch waited its turn, so: twenty rounds."""
    for round_ in range(20):
        opened, errors = open_at_once(f"sqlite:///{tmp_path / f'race{round_}.db'}")
        for store in opened:
            store.close()
        assert errors == [], f"round {round_}"
        assert len(opened) == 4


def cli_config(url: str) -> tuple[Config, io.StringIO]:
    """The configuration the alembic CLI builds from our alembic.ini and ``-x url=...``."""
    out = io.StringIO()
    ini = MIGRATIONS / "alembic.ini"
    config = Config(str(ini), output_buffer=out, stdout=out, cmd_opts=Namespace(x=[f"url={url}"]))
    return config, out


def test_the_alembic_cli_path_upgrades_checks_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    config, _ = cli_config(url)

    command.upgrade(config, "head")
    command.check(config)  # raises if the migrations and the tables module disagree
    engine = create_store_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()


def test_the_alembic_cli_path_writes_sql_offline(tmp_path: Path) -> None:
    config, out = cli_config(f"sqlite:///{tmp_path / 'never-created.db'}")
    command.upgrade(config, "head", sql=True)
    assert "CREATE TABLE endpoints" in out.getvalue()
    assert not (tmp_path / "never-created.db").exists()
