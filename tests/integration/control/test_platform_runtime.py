"""``waypost up``'s choice of runtime and the short-lived tokens pods fetch bundles with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from waypost.control.access import authorize
from waypost.control.auth import hash_token
from waypost.control.platform import BUNDLE_TOKEN_TTL, _runtime, mint_bundle_token
from waypost.errors import Forbidden, InvalidSpec
from waypost.runtimes.local import LocalRuntime
from waypost.settings import Settings
from waypost.store import Store


def test_a_bundle_token_is_a_short_lived_gateway_token(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    try:
        token = mint_bundle_token(store, now)
        record = store.find_token(hash_token(token))
    finally:
        store.close()

    assert record is not None
    assert record.scope == "gateway"
    assert record.expires_at == now + BUNDLE_TOKEN_TTL
    assert timedelta(hours=1) >= BUNDLE_TOKEN_TTL
    authorize("gateway", None, "GET", "/api/v1/internal/bundles/" + "a" * 64, None)
    with pytest.raises(Forbidden):
        authorize("gateway", None, "GET", "/api/v1/projects", None)


def test_the_runtime_is_chosen_by_name(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        assert isinstance(_runtime(Settings(home=tmp_path), store), LocalRuntime)
        with pytest.raises(InvalidSpec, match="unknown runtime 'nomad'"):
            _runtime(Settings(home=tmp_path, runtime="nomad"), store)
    finally:
        store.close()
