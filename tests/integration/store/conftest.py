"""Every store test runs twice: on a SQLite file and on a fresh PostgreSQL database.

The PostgreSQL cluster starts once per session, and only when a PostgreSQL case
runs (``-m "not postgres"`` never starts it). The store gets a stepping clock,
so the times it writes are known exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.store.helpers import StepClock
from tests.support.postgres import PostgresCluster, postgres_cluster
from waypost.store import Store

__all__ = ["postgres_cluster"]  # the session fixture, made visible to these tests


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'waypost.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_schema()


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def store(database_url: str, clock: StepClock) -> Iterator[Store]:
    with Store.open(database_url, clock=clock) as opened:
        yield opened
