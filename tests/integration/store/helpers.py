"""Small builders shared by the store tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from waypost.model.prefix import UnitKey
from waypost.model.spec import (
    Autoscaling,
    EndpointSpec,
    FileBinding,
    Health,
    Replicas,
    Resources,
)
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus
from waypost.store import Store, VersionRecord

START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """Each call returns the next second after ``START``; safe to call from many threads."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1)
        self.last = START

    def __call__(self) -> datetime:
        self.last = START + timedelta(seconds=next(self._ticks))
        return self.last


def spec(name: str = "web", **changes: Any) -> EndpointSpec:
    values: dict[str, Any] = {"kind": "wsgi", "target": "app:app", **changes}
    return EndpointSpec(name=name, **values)


def key(deployment: str = "hello", version: int = 1, endpoint: str = "web") -> UnitKey:
    return UnitKey("acme", "shop", deployment, version, endpoint)


def make_version(
    store: Store,
    deployment: str = "hello",
    endpoints: Sequence[str | EndpointSpec] = ("web",),
    *,
    org: str = "acme",
    project: str = "shop",
    branch: str = "main",
    actor: str = "alice",
) -> VersionRecord:
    return store.create_version(
        org,
        project,
        deployment,
        branch=branch,
        bundle_digest="ab" * 32,
        bundle_size=1234,
        endpoints=[e if isinstance(e, EndpointSpec) else spec(e) for e in endpoints],
        actor=actor,
    )


def replica(
    replica_id: str = "r-1",
    phase: ReplicaPhase = ReplicaPhase.READY,
    address: str | None = "127.0.0.1:4001",
    **changes: Any,
) -> ReplicaStatus:
    values: dict[str, Any] = {"pid": 4242, "started_at": 1_700_000_000.5, **changes}
    return ReplicaStatus(replica_id, phase, address, **values)


def spec_with_everything(name: str = "web") -> EndpointSpec:
    """A spec that uses every field, to prove nothing is lost in the JSON column."""
    return EndpointSpec(
        name=name,
        kind="runtime",
        target="sentence-transformers",
        model="BAAI/bge-small-en",
        port=8080,
        requirements="requirements.txt",
        files=(FileBinding("weights", "model/w.bin", source="w.bin", description="weights"),),
        env={"A": "1", "B": "two"},
        replicas=Replicas(min=0, max=3),
        resources=Resources(cpu=1.5, memory=2**30, gpu=1, gpu_type="T4", preset="small"),
        health=Health(path="/health", startup_timeout=30.0, interval=0.5),
        autoscaling=Autoscaling(target_concurrency=2.5, idle_timeout=60.0),
        visibility="private",
        engine_args={"max_len": 512, "trust": True, "dtype": "float16", "temp": 0.5},
        quantization="int8",
        image="python:3.11",
        description="embeddings",
        node_selector={"gpu": "t4"},
        strip_prefix=True,
        workers=2,
        cluster="local",
    )
