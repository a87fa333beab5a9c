"""A real gateway process for tests, and the route snapshots it is given.

``GatewayProcess`` runs ``python -m waypost.gateway`` on a free loopback port and is
stopped by PID; it reports the PIDs of its workers so tests can check that none is
left behind. ``build_snapshot`` writes route snapshots from plain URLs and addresses.
The servers around the gateway (control plane, replicas, log sink) are in ``doubles``.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from waypost.model.routes import (
    LogSink,
    ReplicaAddress,
    Route,
    RouteBackend,
    RouteMirror,
    RouteSnapshot,
    RouteTarget,
    TokenGrant,
)

TOKEN = "wp_gateway_test_token"
_revisions = itertools.count(1)


@contextlib.contextmanager
def garbage_left() -> Iterator[set[str]]:
    """The type names of what only the garbage collector would free, of the objects made
    inside the block (filled in when it ends): the collector is off meanwhile."""
    left: set[str] = set()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield left
        gc.collect()
        left.update(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refusing_address() -> tuple[socket.socket, str]:
    """A loopback address that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"


def next_revision() -> int:
    return next(_revisions)


def build_snapshot(
    routes: Mapping[str, Sequence[tuple[str, int, str]]],
    targets: Mapping[str, Sequence[str]],
    *,
    revision: int | None = None,
    sticky: Mapping[str, str] | None = None,
    strip_prefix: Iterable[str] = (),
    mirrors: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    states: Mapping[str, str] | None = None,
    log_sinks: Sequence[LogSink] = (),
    private: Iterable[str] = (),
    grants: Sequence[TokenGrant] = (),
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> RouteSnapshot:
    """``routes``: URL (4 or 5 segments) -> [(backend, weight, target key)];
    ``targets``: key -> ready replica addresses; ``mirrors``: URL -> [(name, target key)];
    ``states``: key -> state (default Running); ``private``: target keys that are private;
    ``grants``: the tokens that may call private targets; ``settings``: key -> more
    ``RouteTarget`` fields (``timeout``, ``max_concurrency``...)."""
    stripped = set(strip_prefix)
    hidden = set(private)
    return RouteSnapshot(
        revision=next_revision() if revision is None else revision,
        targets=tuple(
            RouteTarget(
                key,
                (states or {}).get(key, "Running"),
                "private" if key in hidden else "public",
                key in stripped,
                tuple(ReplicaAddress(f"r{i}-{a}", a) for i, a in enumerate(addresses)),
                **(settings or {}).get(key, {}),
            )
            for key, addresses in targets.items()
        ),
        routes=tuple(
            _route(url, backends, (sticky or {}).get(url), (mirrors or {}).get(url, ()))
            for url, backends in routes.items()
        ),
        log_sinks=tuple(log_sinks),
        grants=tuple(grants),
    )


def _route(
    url: str,
    backends: Sequence[tuple[str, int, str]],
    sticky: str | None,
    mirrors: Sequence[tuple[str, str]] = (),
) -> Route:
    org, project, deployment, selector, *endpoint = url.split("/")
    return Route(
        org,
        project,
        deployment,
        selector,
        endpoint[0] if endpoint else None,
        tuple(RouteBackend(n, w, t) for n, w, t in backends),
        tuple(RouteMirror(n, t) for n, t in mirrors),
        sticky,
    )


@dataclass
class GatewayProcess:
    """``python -m waypost.gateway`` on a free port; stopped by PID."""

    port: int
    control_url: str
    token_file: Path
    log_dir: Path
    workers: int = 1
    grace: float = 10.0
    extra_args: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None
    known_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"gateway-{self.port}.out"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"gateway-{self.port}.err"

    def start(self, timeout: float = 20.0) -> None:
        argv = [
            sys.executable, "-m", "waypost.gateway",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--control-url", self.control_url, "--token-file", str(self.token_file),
            "--workers", str(self.workers), "--grace", str(self.grace), *self.extra_args,
        ]  # fmt: skip
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=err, start_new_session=True, cwd=self.log_dir
            )
        self.known_pids.add(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway exited with {self.process.returncode}:\n{self.stderr()}"
                )
            if self._healthy() and (self.workers == 1 or len(self.worker_pids()) == self.workers):
                self.known_pids.update(self.worker_pids())
                return
            time.sleep(0.05)
        raise RuntimeError(f"gateway not healthy within {timeout}s:\n{self.stderr()}")

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/-/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(self.url + "/-/health", timeout=5).json()
        return result

    def wait_revision(self, revision: int, timeout: float = 5.0) -> float:
        """Seconds until the gateway serves ``revision`` (on this connection's worker)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.health()["revision"] >= revision:
                return time.monotonic() - started
            time.sleep(0.01)
        raise AssertionError(f"gateway did not reach revision {revision} in {timeout}s")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def request_log(self) -> list[dict[str, Any]]:
        if not self.stdout_path.exists():
            return []
        # The gateway may be writing a line right now: only whole lines (ending in a
        # newline) are read, the one being written waits for the next call.
        complete = self.stdout_path.read_text().rpartition("\n")[0]
        return [json.loads(line) for line in complete.splitlines() if line.startswith("{")]

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL every known PID left; the exit code (None if killed)."""
        if self.process is None:
            return None
        self.known_pids.update(self.worker_pids())
        code: int | None = None
        if self.process.poll() is None:
            self.terminate()
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = self.process.returncode
        for pid in sorted(self.known_pids):
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        return code


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
