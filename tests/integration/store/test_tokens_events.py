"""API tokens, and paging and filtering the event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.integration.store.helpers import StepClock, key, make_version
from waypost.errors import Conflict, NotFound
from waypost.model.lifecycle import EndpointState
from waypost.store import Store


def test_tokens_are_created_found_listed_and_revoked(store: Store, clock: StepClock) -> None:
    # Any zone in, UTC out.
    expires = datetime(2030, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    admin = store.create_token(name="admin", token_hash="h-admin", scope="admin")
    ci = store.create_token(
        name="ci", token_hash="h-ci", scope="deploy", project="acme/shop", expires_at=expires
    )

    assert (admin.name, admin.scope, admin.project, admin.expires_at) == (
        "admin",
        "admin",
        None,
        None,
    )
    assert admin.revoked is False
    assert admin.created_at < ci.created_at == clock.last
    assert ci.expires_at == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert ci.expires_at is not None
    assert ci.expires_at.tzinfo is UTC
    assert store.find_token("h-ci") == ci
    assert store.find_token("unknown") is None
    assert store.list_tokens() == [admin, ci]

    revoked = store.revoke_token(ci.id)
    assert revoked.revoked is True
    assert store.find_token("h-ci") == revoked
    assert store.revoke_token(ci.id) == revoked  # idempotent


def test_creating_and_revoking_a_token_moves_the_route_revision(store: Store) -> None:
    # The gateway's route snapshot lists the tokens that may call private endpoints.
    start = store.route_revision()
    token = store.create_token(name="ci", token_hash="h-ci", scope="invoke")
    assert store.route_revision() == start + 1
    store.revoke_token(token.id)
    assert store.route_revision() == start + 2
    store.revoke_token(token.id)  # already revoked: nothing changes
    assert store.route_revision() == start + 2
    with pytest.raises(Conflict):
        store.create_token(name="again", token_hash="h-ci", scope="invoke")
    with pytest.raises(NotFound):
        store.revoke_token(token.id + 100)
    assert store.route_revision() == start + 2


def test_a_second_token_with_the_same_hash_is_a_conflict(store: Store) -> None:
    store.create_token(name="one", token_hash="same", scope="admin")
    with pytest.raises(Conflict, match="cannot create token 'two'"):
        store.create_token(name="two", token_hash="same", scope="admin")
    assert [t.name for t in store.list_tokens()] == ["one"]


def test_revoking_a_missing_token_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no token with id 42"):
        store.revoke_token(42)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.create_token(name="t", token_hash="h", scope="admin", expires_at=datetime(2030, 1, 1))
    assert store.list_tokens() == []


def test_events_filter_by_project_and_key_and_page_by_id(store: Store) -> None:
    make_version(store, "hello", ["web", "api"])
    make_version(store, "other", ["web"], project="elsewhere")
    store.record_transition(key(), EndpointState.DEPLOYING, reason="built", actor="system")

    every = store.list_events()
    assert [e.id for e in every] == sorted(e.id for e in every)
    assert len(every) == 6
    shop = store.list_events(org="acme", project="shop")
    assert [(e.kind, e.endpoint) for e in shop] == [
        ("version", None),
        ("transition", "web"),
        ("transition", "api"),
        ("transition", "web"),
    ]
    assert [e.project for e in store.list_events(project="elsewhere")] == ["elsewhere"] * 2
    web = store.list_events(key=key())
    assert [(e.from_state, e.to_state) for e in web] == [
        (None, "Building"),
        ("Building", "Deploying"),
    ]
    assert store.list_events(key=key(version=2)) == []

    first_page = store.list_events(limit=4)
    second_page = store.list_events(after_id=first_page[-1].id, limit=4)
    assert first_page + second_page == every
    assert store.list_events(after_id=every[-1].id) == []


def test_an_event_limit_below_one_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        store.list_events(limit=0)
