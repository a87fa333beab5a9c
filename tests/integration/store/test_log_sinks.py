"""Log sinks per project (migration 0002), and writing several aliases in one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from tests.integration.store.helpers import make_version
from waypost.errors import InvalidSpec, NotFound
from waypost.model.policy import AliasPolicy, Backend, Target
from waypost.model.routes import LogSink
from waypost.store import Store
from waypost.store.engine import WRITE, alembic_config, create_store_engine

A = "http://127.0.0.1:9000/logs"
B = "https://logs.example.com/in"


def plain(version: int) -> AliasPolicy:
    return AliasPolicy(backends=(Backend(f"v{version}", Target(None, version)),))


def test_log_sinks_round_trip_in_order_and_move_the_revision(store: Store) -> None:
    make_version(store)
    revision = store.route_revision()

    assert store.set_log_sinks("acme", "shop", [B, A], actor="alice") == [B, A]

    assert store.get_log_sinks("acme", "shop") == [B, A]
    assert store.route_revision() > revision
    [event] = [e for e in store.list_events(org="acme") if e.kind == "log_sinks"]
    assert (event.actor, event.project, event.deployment) == ("alice", "shop", None)
    assert event.reason == f"log sinks: [] → {json.dumps([B, A])}"


def test_setting_the_same_sinks_again_changes_nothing(store: Store) -> None:
    store.set_log_sinks("acme", "shop", [A], actor="a")
    revision, events = store.route_revision(), store.list_events()

    assert store.set_log_sinks("acme", "shop", [A], actor="a") == [A]

    assert (store.route_revision(), store.list_events()) == (revision, events)


def test_sinks_are_replaced_and_cleared(store: Store) -> None:
    store.set_log_sinks("acme", "shop", [A, B], actor="a")
    store.set_log_sinks("acme", "shop", [B], actor="a")
    assert store.get_log_sinks("acme", "shop") == [B]
    store.set_log_sinks("acme", "shop", [], actor="a")
    assert store.get_log_sinks("acme", "shop") == []


def test_every_projects_sinks_for_the_snapshot(store: Store) -> None:
    store.set_log_sinks("zeta", "p", [A], actor="a")  # creates the project
    store.set_log_sinks("acme", "shop", [B, A], actor="a")
    store.set_log_sinks("acme", "empty", [], actor="a")

    assert store.list_all_log_sinks() == [
        LogSink("acme/shop", B),
        LogSink("acme/shop", A),
        LogSink("zeta/p", A),
    ]


def test_sinks_of_a_missing_project_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no project acme/nope"):
        store.get_log_sinks("acme", "nope")


def test_set_aliases_writes_all_in_one_go_and_says_what_changed(store: Store) -> None:
    store.set_alias("acme", "shop", "hello", "same", plain(1), actor="a")
    revision = store.route_revision()

    written = store.set_aliases(
        "acme",
        "shop",
        [("hello", "new", plain(2)), ("hello", "same", plain(1)), (None, "file", plain(3))],
        actor="bob",
    )

    assert [(r.deployment, r.name, r.policy, changed) for r, changed in written] == [
        ("hello", "new", plain(2), True),
        ("hello", "same", plain(1), False),
        (None, "file", plain(3), True),
    ]
    assert store.route_revision() == revision + 1  # once for the whole batch
    # One event per change, written in (deployment, name) order: the lock order of every writer.
    assert [(e.alias, e.actor) for e in store.list_events(org="acme") if e.kind == "alias"] == [
        ("same", "a"),
        ("file", "bob"),
        ("new", "bob"),
    ]


def test_set_aliases_without_a_change_keeps_the_revision(store: Store) -> None:
    store.set_aliases("acme", "shop", [("hello", "a", plain(1))], actor="x")
    revision = store.route_revision()
    [(_, changed)] = store.set_aliases("acme", "shop", [("hello", "a", plain(1))], actor="x")
    assert not changed
    assert store.route_revision() == revision


def test_set_aliases_refuses_one_alias_twice_and_writes_nothing(store: Store) -> None:
    with pytest.raises(InvalidSpec, match="more than once: hello/a"):
        store.set_aliases(
            "acme", "shop", [("hello", "a", plain(1)), ("hello", "a", plain(2))], actor="x"
        )
    assert store.list_projects() == []


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = create_store_engine(database_url)
    yield made
    made.dispose()


def _migrate(engine: Engine, how: str, revision: str) -> None:
    config = alembic_config()
    with engine.execution_options(**WRITE).begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, how)(config, revision)


def test_migration_0002_adds_log_sinks_to_a_0001_database_and_keeps_its_rows(
    database_url: str, engine: Engine
) -> None:
    _migrate(engine, "upgrade", "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO projects (org, name, created_at) "
                "VALUES ('acme', 'shop', '2025-01-01 00:00:00')"
            )
        )
    assert "log_sinks" not in inspect(engine).get_table_names()

    with Store.open(database_url) as store:  # opening migrates to the newest
        assert store.get_log_sinks("acme", "shop") == []
        store.set_log_sinks("acme", "shop", [A], actor="a")

    _migrate(engine, "downgrade", "0001")
    assert "log_sinks" not in inspect(engine).get_table_names()
    assert "projects" in inspect(engine).get_table_names()
