"""Fixtures: test doubles on a private loop, and real gateway processes stopped by PID."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.gateway.doubles import FakeControlPlane, RecordingUpstream, ServerThread
from tests.integration.gateway.support import TOKEN, GatewayProcess, free_port, pid_alive
from waypost.model.routes import RouteSnapshot


@dataclass
class Env:
    """One gateway (1 worker) with a fake control plane and two replicas, shared by a module."""

    thread: ServerThread
    control: FakeControlPlane
    a: RecordingUpstream
    b: RecordingUpstream
    gateway: GatewayProcess
    token_file: Path
    log_dir: Path

    def publish(self, snapshot: RouteSnapshot) -> float:
        """Publish and wait until the gateway serves it; the seconds that took."""
        self.control.publish(snapshot)
        return self.gateway.wait_revision(snapshot.revision)


def _check_stopped(gateway: GatewayProcess) -> None:
    left = [pid for pid in gateway.known_pids if pid_alive(pid)]
    assert not left, f"gateway processes left behind: {left}"
    assert "Traceback" not in gateway.stderr(), gateway.stderr()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    log_dir = tmp_path_factory.mktemp("gateway")
    token_file = log_dir / "gateway-token"
    token_file.write_text(TOKEN + "\n")
    thread = ServerThread()
    control = FakeControlPlane(thread, free_port())
    a = RecordingUpstream(thread, free_port(), "a")
    b = RecordingUpstream(thread, free_port(), "b")
    gateway = GatewayProcess(free_port(), control.url, token_file, log_dir)
    try:
        for site in (control, a, b):
            site.start()
        gateway.start()
        yield Env(thread, control, a, b, gateway, token_file, log_dir)
    finally:
        code = gateway.stop()
        for site in (control, a, b):
            site.stop()
        thread.close()
    assert code == 0, gateway.stderr()
    _check_stopped(gateway)


GatewayFactory = Callable[..., GatewayProcess]


@pytest.fixture
def start_gateway(env: Env, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start extra gateways (own port and logs); every one is stopped and checked at the end."""
    started: list[GatewayProcess] = []

    def start(
        *,
        control_url: str | None = None,
        workers: int = 1,
        grace: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> GatewayProcess:
        gateway = GatewayProcess(
            free_port(),
            control_url or env.control.url,
            env.token_file,
            tmp_path,
            workers=workers,
            grace=grace,
            extra_args=tuple(extra_args),
        )
        started.append(gateway)
        gateway.start()
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
    for gateway in started:
        _check_stopped(gateway)
