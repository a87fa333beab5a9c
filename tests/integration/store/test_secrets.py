"""Project secrets (migration 0003): ciphertexts by name, events that never carry a value."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from tests.integration.store.helpers import StepClock
from waypost.errors import NotFound
from waypost.store import SecretRecord, Store
from waypost.store.engine import WRITE, alembic_config, create_store_engine

CIPHER = b"gAAAA\x00\xffnot-really-fernet"


def test_a_secret_is_set_listed_and_read_back_as_ciphertext(store: Store, clock: StepClock) -> None:
    record = store.set_secret("acme", "shop", "API_KEY", CIPHER, actor="alice")

    assert record == SecretRecord("API_KEY", clock.last)
    assert store.list_secrets("acme", "shop") == [record]
    assert store.secret_values("acme", "shop") == {"API_KEY": CIPHER}
    [project] = store.list_projects()
    assert (project.org, project.name) == ("acme", "shop")  # created by the first secret


def test_setting_again_replaces_the_value_and_the_time(store: Store, clock: StepClock) -> None:
    store.set_secret("acme", "shop", "B", b"one", actor="alice")
    store.set_secret("acme", "shop", "A", b"two", actor="alice")
    changed = store.set_secret("acme", "shop", "B", b"three", actor="bob")

    assert changed.updated_at == clock.last
    assert [s.name for s in store.list_secrets("acme", "shop")] == ["A", "B"]
    assert store.secret_values("acme", "shop") == {"A": b"two", "B": b"three"}


def test_secrets_belong_to_one_project(store: Store) -> None:
    store.set_secret("acme", "shop", "TOKEN", b"shop", actor="a")
    store.set_secret("acme", "other", "TOKEN", b"other", actor="a")

    assert store.secret_values("acme", "shop") == {"TOKEN": b"shop"}
    assert store.secret_values("acme", "other") == {"TOKEN": b"other"}
    assert store.list_secrets("acme", "missing") == []
    assert store.secret_values("acme", "missing") == {}


def test_events_name_the_secret_and_who_but_carry_no_value(store: Store) -> None:
    revision = store.route_revision()
    store.set_secret("acme", "shop", "API_KEY", b"sealed", actor="alice")
    store.set_secret("acme", "shop", "API_KEY", b"sealed-again", actor="alice")
    store.delete_secret("acme", "shop", "API_KEY", actor="bob")

    events = [e for e in store.list_events(org="acme") if e.kind == "secret"]
    assert [(e.reason, e.actor, e.project, e.deployment) for e in events] == [
        ("secret API_KEY set", "alice", "shop", None),
        ("secret API_KEY changed", "alice", "shop", None),
        ("secret API_KEY deleted", "bob", "shop", None),
    ]
    assert store.route_revision() == revision  # gateways never see secrets


def test_deleting_removes_only_that_secret(store: Store) -> None:
    store.set_secret("acme", "shop", "A", b"a", actor="a")
    store.set_secret("acme", "shop", "B", b"b", actor="a")

    store.delete_secret("acme", "shop", "A", actor="a")

    assert store.secret_values("acme", "shop") == {"B": b"b"}


@pytest.mark.parametrize(
    "project", [pytest.param("shop", id="no-such-secret"), pytest.param("gone", id="no-project")]
)
def test_deleting_what_is_not_there_is_not_found(store: Store, project: str) -> None:
    store.set_secret("acme", "shop", "A", b"a", actor="a")
    events = len(store.list_events(org="acme"))

    with pytest.raises(NotFound, match=f"acme/{project}"):
        store.delete_secret("acme", project, "MISSING", actor="a")
    assert len(store.list_events(org="acme")) == events


def test_a_large_ciphertext_round_trips(store: Store) -> None:
    big = bytes(range(256)) * 400  # ~100 KiB: a 64 KiB value after Fernet's base64
    store.set_secret("acme", "shop", "BIG", big, actor="a")
    assert store.secret_values("acme", "shop")["BIG"] == big


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


def test_migration_0003_adds_project_secrets_to_a_0002_database(
    database_url: str, engine: Engine
) -> None:
    _migrate(engine, "upgrade", "0002")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO projects (org, name, created_at) "
                "VALUES ('acme', 'shop', '2025-01-01 00:00:00')"
            )
        )
    assert "project_secrets" not in inspect(engine).get_table_names()

    with Store.open(database_url) as store:  # opening migrates to the newest
        assert store.list_secrets("acme", "shop") == []
        store.set_secret("acme", "shop", "A", b"a", actor="a")

    _migrate(engine, "downgrade", "0002")
    assert "project_secrets" not in inspect(engine).get_table_names()
    assert "projects" in inspect(engine).get_table_names()
