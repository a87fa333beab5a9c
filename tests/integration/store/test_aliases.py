"""Aliases: upsert, history with old and new policy, Modelbit alias files, deletion."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.integration.store.helpers import StepClock, make_version
from waypost.errors import NotFound
from waypost.model.policy import AliasPolicy, Backend, Mirror, Target
from waypost.store import Store


def plain(version: int) -> AliasPolicy:
    return AliasPolicy(backends=(Backend(f"v{version}", Target(None, version)),))


SPLIT = AliasPolicy(
    backends=(
        Backend("old", Target("hello", 1, endpoint="web"), weight=90),
        Backend("new", Target("hello", "latest", branch="dev"), weight=10),
    ),
    mirrors=(Mirror("shadow", Target("other", 2)),),
    sticky="header:X-User",
)


def test_set_alias_creates_then_replaces(store: Store, clock: StepClock) -> None:
    make_version(store)
    revision = store.route_revision()

    created = store.set_alias("acme", "shop", "hello", "production", plain(1), actor="alice")
    assert (created.org, created.project, created.deployment, created.name) == (
        "acme",
        "shop",
        "hello",
        "production",
    )
    assert created.policy == plain(1)
    assert created.updated_at == clock.last
    assert store.route_revision() > revision

    revision = store.route_revision()
    replaced = store.set_alias("acme", "shop", "hello", "production", SPLIT, actor="bob")
    assert replaced.policy == SPLIT
    assert replaced.updated_at > created.updated_at
    assert store.get_alias("acme", "shop", "hello", "production") == replaced
    assert store.route_revision() > revision


def test_setting_the_same_policy_again_changes_nothing(store: Store) -> None:
    first = store.set_alias("acme", "shop", "hello", "production", SPLIT, actor="alice")
    revision, events = store.route_revision(), store.list_events()

    again = store.set_alias("acme", "shop", "hello", "production", SPLIT, actor="alice")

    assert again == first
    assert (store.route_revision(), store.list_events()) == (revision, events)


def test_history_shows_old_and_new_policy_json(store: Store) -> None:
    store.set_alias("acme", "shop", "hello", "production", plain(1), actor="alice")
    store.set_alias("acme", "shop", "hello", "production", plain(2), actor="bob")
    store.set_alias("acme", "shop", "hello", "staging", plain(3), actor="carol")
    store.delete_alias("acme", "shop", "hello", "production", actor="dave")

    history = store.alias_history("acme", "shop", "production")

    assert [(e.kind, e.actor, e.alias, e.deployment) for e in history] == [
        ("alias", "alice", "production", "hello"),
        ("alias", "bob", "production", "hello"),
        ("alias", "dave", "production", "hello"),
    ]
    v1, v2 = (json.dumps(plain(n).to_json(), sort_keys=True) for n in (1, 2))
    assert history[0].reason == f"alias production: none → {v1}"
    assert history[1].reason == f"alias production: {v1} → {v2}"
    assert history[2].reason == f"alias production: {v2} → none"
    assert history == [e for e in store.list_events(org="acme") if e.alias == "production"]


def test_alias_files_and_deployment_aliases_share_names_but_not_rows(store: Store) -> None:
    store.set_alias("acme", "shop", None, "churn", plain(1), actor="a")
    store.set_alias("acme", "shop", "hello", "churn", plain(2), actor="a")
    store.set_alias("acme", "shop", "other", "churn", plain(3), actor="a")
    store.set_alias("acme", "shop", None, "churn", SPLIT, actor="a")  # replaces, no duplicate

    aliases = store.list_aliases("acme", "shop")
    assert [(a.deployment, a.name, a.policy) for a in aliases] == [
        (None, "churn", SPLIT),
        ("hello", "churn", plain(2)),
        ("other", "churn", plain(3)),
    ]
    assert store.get_alias("acme", "shop", None, "churn").policy == SPLIT


def test_set_alias_creates_a_missing_project(store: Store) -> None:
    store.set_alias("acme", "fresh", None, "churn", plain(1), actor="a")
    assert [(p.org, p.name, p.deployments) for p in store.list_projects()] == [("acme", "fresh", 0)]


def test_delete_alias_removes_it_and_moves_the_route_revision(store: Store) -> None:
    store.set_alias("acme", "shop", "hello", "production", plain(1), actor="a")
    revision = store.route_revision()

    store.delete_alias("acme", "shop", "hello", "production", actor="a")

    assert store.list_aliases("acme", "shop") == []
    assert store.route_revision() > revision
    with pytest.raises(NotFound, match="no alias production on deployment hello"):
        store.delete_alias("acme", "shop", "hello", "production", actor="a")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda s: s.get_alias("acme", "shop", "hello", "nope"),
            "no alias nope on deployment hello of project acme/shop",
            id="get",
        ),
        pytest.param(
            lambda s: s.get_alias("acme", "shop", None, "nope"),
            "no alias nope on project acme/shop",
            id="get-file",
        ),
        pytest.param(lambda s: s.list_aliases("acme", "nope"), "no project acme/nope", id="list"),
        pytest.param(
            lambda s: s.alias_history("acme", "nope", "x"), "no project acme/nope", id="history"
        ),
        pytest.param(
            lambda s: s.delete_alias("acme", "nope", None, "x", actor="a"),
            "no project acme/nope",
            id="delete",
        ),
    ],
)
def test_missing_aliases_are_not_found(
    store: Store, call: Callable[[Store], object], message: str
) -> None:
    make_version(store)
    with pytest.raises(NotFound, match=message):
        call(store)
