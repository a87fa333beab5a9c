"""The reconciler loop over a real SQLite store, a scripted runtime and a clock the test moves.

The pure decisions have their tables (tests/unit/control); this checks the plumbing:
what the loop stores, which events it writes, what it asks of the runtime, and that
a new loop on the same store carries on where a killed one stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from waypost.control.blobs import BundleStore
from waypost.control.loop import Reconciler
from waypost.control.secrets import SecretBox
from waypost.control.traffic import TrafficBook
from waypost.control.watch import ChangeSignal
from waypost.model.lifecycle import EndpointState
from waypost.model.prefix import UnitKey
from waypost.model.report import GatewayReport, TargetLoad
from waypost.model.spec import Autoscaling, EndpointSpec, Replicas
from waypost.runtimes.base import LogChunk, ReplicaPhase, ReplicaStatus, Workload
from waypost.store import EventRecord, Store

S = EndpointState
P = ReplicaPhase
KEY = UnitKey("acme", "shop", "hello", 1, "web")


@dataclass
class ScriptedRuntime:
    """Runs nothing: ``observe`` answers what the test put in ``replicas``."""

    name: str = "scripted"
    replicas: list[ReplicaStatus] = field(default_factory=list)
    scaled: list[int] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)  # as scaled
    builds: list[Workload] = field(default_factory=list)

    async def start(self) -> None: ...
    async def build(self, workload: Workload, log: Callable[[str], None]) -> None:
        self.builds.append(workload)

    async def scale(self, workload: Workload, replicas: int) -> None:
        self.scaled.append(replicas)
        self.workloads.append(workload)

    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        return {KEY: tuple(self.replicas)} if self.replicas else {}

    async def remove(self, key: UnitKey) -> None: ...
    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        return LogChunk("serving\nabout to crash on purpose\n", 0)

    async def close(self) -> None: ...


@dataclass
class Clock:
    now: float = 1_000_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Loop:
    store: Store
    runtime: ScriptedRuntime
    clock: Clock
    traffic: TrafficBook
    reconciler: Reconciler
    bundles: BundleStore
    box: SecretBox

    async def passes(self, count: int = 4) -> None:
        for _ in range(count):
            await self.reconciler.tick()
            await asyncio.sleep(0)  # let a build task finish

    def state(self) -> EndpointState:
        return self.store.get_endpoint(KEY).state

    def events(self) -> list[EventRecord]:
        return self.store.list_events(key=KEY)

    def replica(self, phase: ReplicaPhase, restarts: int = 0, code: int | None = None) -> None:
        message = f"exited with code {code}\nrestarting in 1s" if code is not None else ""
        self.runtime.replicas = [
            ReplicaStatus(
                "r-1", phase, "127.0.0.1:4000", 42, self.clock.now, restarts, code, message
            )
        ]

    def report(self, in_flight: int = 0, requests: int = 0, waiting: tuple[str, ...] = ()) -> None:
        targets = (TargetLoad(KEY.id, in_flight, requests, 0, 0.0),)
        self.traffic.add(
            GatewayReport("gw", self.clock.now, 1.0, targets, (), waiting), self.clock.now
        )

    def restart(self) -> None:
        """A new control plane on the same store (the old one was killed)."""
        self.reconciler = Reconciler(
            self.store,
            self.runtime,
            self.bundles,
            ChangeSignal(),
            self.traffic,
            clock=self.clock,
            secret_box=self.box,
        )


def spec(min_replicas: int = 1, max_replicas: int = 3, idle: float = 30.0) -> EndpointSpec:
    return EndpointSpec(
        "web",
        "server-command",
        "python serve.py",
        replicas=Replicas(min=min_replicas, max=max_replicas),
        autoscaling=Autoscaling(target_concurrency=5.0, idle_timeout=idle),
    )


async def start(tmp_path: Path, endpoint: EndpointSpec, box: SecretBox | None = None) -> Loop:
    clock = Clock()
    # The store stamps states with the same clock: idle periods start at those stamps.
    store = Store.open(
        f"sqlite:///{tmp_path / 'waypost.db'}",
        clock=lambda: datetime.fromtimestamp(clock.now, UTC),
    )
    store.create_version(
        "acme", "shop", "hello", branch="main", bundle_digest="0" * 64, bundle_size=1,
        endpoints=(endpoint,), actor="tester",
    )  # fmt: skip
    runtime, traffic = ScriptedRuntime(), TrafficBook()
    bundles = BundleStore(tmp_path / "bundles")
    box = box or SecretBox.in_home(tmp_path)
    reconciler = Reconciler(
        store, runtime, bundles, ChangeSignal(), traffic, clock=clock, secret_box=box
    )
    loop = Loop(store, runtime, clock, traffic, reconciler, bundles, box)
    await loop.passes()
    assert loop.state() is S.STARTUP
    loop.replica(P.READY)
    await loop.passes(1)
    assert loop.state() is S.RUNNING
    return loop


@pytest.fixture
async def loops(tmp_path: Path) -> AsyncIterator[list[Loop]]:
    made: list[Loop] = []
    yield made
    for loop in made:
        await loop.reconciler.close()
        loop.store.close()


async def test_load_scales_up_with_an_event_and_back_down_later(
    tmp_path: Path, loops: list[Loop]
) -> None:
    loop = await start(tmp_path, spec(max_replicas=3))
    loops.append(loop)
    for _ in range(2):
        loop.report(in_flight=14, requests=20)
        loop.clock.now += 1
    loop.report(in_flight=14, requests=20)
    await loop.passes(1)
    assert loop.store.get_endpoint(KEY).replicas_desired == 3
    assert loop.runtime.scaled[-1] == 3
    scaled = loop.events()[-1]
    assert (scaled.kind, scaled.from_state, scaled.to_state) == ("scaled", "Running", "Running")
    assert scaled.reason.startswith("scaled 1 → 3: 14 requests in flight, target 5 per replica")
    assert loop.store.get_endpoint(KEY).reason.startswith("replica r-1 ready")  # unchanged

    # Quiet for two minutes: back to one replica, never to zero (min is 1).
    for _ in range(120):
        loop.clock.now += 1
        loop.report()
        await loop.reconciler.tick()
    assert loop.store.get_endpoint(KEY).replicas_desired == 1
    assert loop.runtime.scaled[-1] == 1
    assert loop.state() is S.RUNNING


async def test_idle_sleeps_a_waiting_request_wakes_and_a_new_loop_carries_on(
    tmp_path: Path, loops: list[Loop]
) -> None:
    loop = await start(tmp_path, spec(min_replicas=0, idle=30.0))
    loops.append(loop)
    loop.clock.now += 29
    await loop.passes(1)
    assert loop.state() is S.RUNNING
    loop.clock.now += 1
    await loop.passes(1)
    assert loop.state() is S.SLEEPING
    assert loop.events()[-1].reason == "idle for 30s"
    assert loop.runtime.scaled[-1] == 0
    assert loop.store.get_endpoint(KEY).replicas_desired == 0
    loop.runtime.replicas = []

    loop.clock.now += 600  # asleep stays asleep
    await loop.passes()
    assert loop.state() is S.SLEEPING
    assert loop.runtime.scaled[-1] == 0

    loop.report(waiting=(KEY.id,))
    await loop.passes(1)
    assert loop.state() is S.SLEEPING  # until a replica is ready
    assert loop.events()[-1].reason == "woken by a waiting request"
    assert loop.store.get_endpoint(KEY).replicas_desired == 1
    assert loop.runtime.scaled[-1] == 1

    loop.restart()  # killed while waking: the wake is in the store
    loop.runtime.scaled.clear()
    loop.replica(P.STARTING)
    await loop.passes(1)
    assert loop.runtime.scaled == [1]
    loop.replica(P.READY)
    await loop.passes(1)
    assert loop.state() is S.RUNNING
    assert loop.events()[-1].reason == (
        "woken by a waiting request; replica r-1 ready at 127.0.0.1:4000"
    )
    # Running since now: a fresh idle period, not the old one.
    loop.clock.now += 10
    await loop.passes(1)
    assert loop.state() is S.RUNNING


async def test_a_crash_loop_is_a_runtime_error_with_the_log_tail(
    tmp_path: Path, loops: list[Loop]
) -> None:
    loop = await start(tmp_path, spec())
    loops.append(loop)
    for restarts in range(1, 5):
        loop.clock.now += 5
        loop.replica(P.BACKOFF, restarts=restarts, code=3)
        await loop.passes(1)
        assert loop.state() is S.RUNNING, f"after {restarts} restarts"
    loop.clock.now += 5
    loop.replica(P.BACKOFF, restarts=5, code=3)
    await loop.passes(1)
    assert loop.state() is S.RUNTIME_ERROR
    reason = loop.store.get_endpoint(KEY).reason
    assert reason.startswith(
        "replicas crashed 5 times within 10m; last: replica r-1 exited with code 3"
    )
    assert reason.endswith("about to crash on purpose")
    assert loop.runtime.scaled[-1] == 0


async def test_slow_crashes_are_not_a_loop(tmp_path: Path, loops: list[Loop]) -> None:
    loop = await start(tmp_path, spec())
    loops.append(loop)
    for restarts in range(1, 12):
        loop.clock.now += 200  # one crash every 200 s: at most 3 within 10 minutes
        loop.replica(P.READY, restarts=restarts, code=3)
        await loop.passes(1)
    assert loop.state() is S.RUNNING


class CountingBox(SecretBox):
    """A real box that counts decryptions."""

    def __init__(self, key_file: Path) -> None:
        super().__init__(key_file)
        self.decrypted = 0

    def decrypt(self, token: bytes) -> str:
        self.decrypted += 1
        return super().decrypt(token)


async def test_replicas_get_their_projects_secrets_read_once_per_pass(
    tmp_path: Path, loops: list[Loop]
) -> None:
    box = CountingBox(tmp_path / "secrets.key")
    loop = await start(tmp_path, spec(), box)
    loops.append(loop)
    store = loop.store
    store.set_secret("acme", "shop", "API_KEY", box.encrypt("s3cret"), actor="t")
    store.set_secret("acme", "shop", "REGION", box.encrypt("eu"), actor="t")
    store.set_secret("acme", "other", "API_KEY", box.encrypt("not-yours"), actor="t")
    box.decrypted = 0
    loop.runtime.workloads.clear()

    await loop.passes(1)

    assert loop.runtime.workloads[-1].env == {"API_KEY": "s3cret", "REGION": "eu"}
    assert box.decrypted == 2  # this project's two secrets, once each
    assert all(b.env == {} for b in loop.runtime.builds)  # builds get none

    # A change is seen by the next pass: replicas started from then on get it.
    store.set_secret("acme", "shop", "API_KEY", box.encrypt("rotated"), actor="t")
    store.delete_secret("acme", "shop", "REGION", actor="t")
    await loop.passes(1)
    assert loop.runtime.workloads[-1].env == {"API_KEY": "rotated"}


async def test_a_secret_the_key_cannot_open_holds_the_scale_back_without_a_crash(
    tmp_path: Path, loops: list[Loop], caplog: pytest.LogCaptureFixture
) -> None:
    loop = await start(tmp_path, spec())
    loops.append(loop)
    other = SecretBox(tmp_path / "another.key")
    loop.store.set_secret("acme", "shop", "API_KEY", other.encrypt("s3cret"), actor="t")
    loop.runtime.workloads.clear()

    await loop.passes(2)

    assert loop.runtime.workloads == []  # never started without its secrets
    assert loop.state() is S.RUNNING
    assert "encrypted with another key" in caplog.text
    assert "s3cret" not in caplog.text
