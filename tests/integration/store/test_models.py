"""The model store's catalogue (migration 0004): immutable models by owner/name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.store.helpers import StepClock
from waypost.errors import Conflict, NotFound
from waypost.store import Store

DIGEST = "a" * 64
OTHER = "b" * 64


def _add(store: Store, name: str = "minilm", digest: str = DIGEST) -> tuple[object, bool]:
    return store.add_model(
        "sentence-transformers",
        name,
        task="feature-extraction",
        digest=digest,
        size=90_000_000,
        files=12,
        actor="alice",
    )


def test_a_model_is_added_listed_and_read_back(store: Store, clock: StepClock) -> None:
    record, created = store.add_model(
        "acme", "minilm", task="feature-extraction", digest=DIGEST, size=10, files=3, actor="alice"
    )

    assert created
    assert (record.model_id, record.task, record.digest) == (
        "acme/minilm",
        "feature-extraction",
        DIGEST,
    )
    assert (record.size, record.files, record.created_by) == (10, 3, "alice")
    assert record.created_at == clock.last
    assert store.get_model("acme", "minilm") == record
    assert store.list_models() == [record]
    assert store.model_digest_in_use(DIGEST)
    assert not store.model_digest_in_use(OTHER)


def test_adding_the_same_files_again_changes_nothing(store: Store) -> None:
    first, _ = _add(store)
    again, created = _add(store)

    assert not created
    assert again == first
    assert len(store.list_models()) == 1


def test_other_files_under_a_taken_name_are_a_conflict_that_names_both_digests(
    store: Store,
) -> None:
    _add(store)

    with pytest.raises(
        Conflict, match=r"immutable.*aaaaaaaaaaaa.*bbbbbbbbbbbb|aaaaaaaaaaaa.*bbbbbbbbbbbb"
    ):
        _add(store, digest=OTHER)
    assert store.get_model("sentence-transformers", "minilm").digest == DIGEST


def test_removing_frees_the_name_and_leaves_events(store: Store) -> None:
    _add(store)
    removed = store.remove_model("sentence-transformers", "minilm", actor="bob")

    assert removed.digest == DIGEST
    assert store.list_models() == []
    with pytest.raises(NotFound, match="not in the model store"):
        store.get_model("sentence-transformers", "minilm")
    with pytest.raises(NotFound):
        store.remove_model("sentence-transformers", "minilm", actor="bob")
    _, created = _add(store, digest=OTHER)
    assert created
    reasons = [e.reason for e in store.list_events(org="sentence-transformers", project="minilm")]
    assert any("added" in r for r in reasons)
    assert any("removed" in r for r in reasons)


def test_concurrent_adds_of_one_name_register_it_once(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: _add(store), range(6)))

    assert sum(created for _, created in results) == 1
    assert len(store.list_models()) == 1
