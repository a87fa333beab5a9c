"""A real LocalRuntime on a shared root, real bundles, and a check that nothing survives.

One runtime root serves the whole session, so the env cache (gunicorn, uvicorn)
is made once; every test gets its own LocalRuntime on it, started and closed
around the test. After each close, /proc must show no process whose working
directory or command line is under the root or the test's tmp_path; any found
are killed by PID and the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import signal
import tarfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointKind, EndpointSpec, Health
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus, Workload
from waypost.runtimes.local import LocalRuntime

# An app that shows what it was given: path, prefix and its environment.
WSGI_ECHO = """\
import json, os, sys
print("echo app imported", flush=True)

def app(environ, start_response):
    if environ["PATH_INFO"] == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    body = json.dumps({
        "script_name": environ["SCRIPT_NAME"],
        "path_info": environ["PATH_INFO"],
        "query": environ.get("QUERY_STRING", ""),
        "header": environ.get("HTTP_X_VH_PREFIX"),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "python": sys.executable,
        "pid": os.getpid(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""

ASGI_ECHO = """\
import json, os

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({
        "path": scope["path"],
        "root_path": scope["root_path"],
        "raw_path": scope["raw_path"].decode(),
        "env": dict(os.environ),
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""

SERVE_PY = """\
import json, os
from wsgiref.simple_server import WSGIRequestHandler, make_server
from waypost.prefix import PrefixMiddleware

def app(environ, start_response):
    body = json.dumps({"script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"],
                       "python": os.path.realpath(os.sys.executable),
                       "virtual_env": os.environ.get("VIRTUAL_ENV")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

make_server("127.0.0.1", int(os.environ["PORT"]), PrefixMiddleware(app), handler_class=Quiet
            ).serve_forever()
"""


def make_bundle(folder: Path, files: dict[str, str]) -> tuple[Path, str]:
    """A .tar.gz of ``files``, stored under its sha256 like the control plane's BundleStore."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.tar.gz"
    path.write_bytes(data)
    return path, digest


class Deployer:
    """Makes workloads from file dicts, for one test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def workload(
        self,
        contents: dict[str, str],
        kind: EndpointKind,
        target: str,
        *,
        deployment: str = "app",
        version: int = 1,
        startup_timeout: float = 30.0,
        health_path: str | None = None,
        **changes: object,
    ) -> Workload:
        bundle, digest = make_bundle(self.folder / "bundles", contents)
        spec = EndpointSpec(
            name="web",
            kind=kind,
            target=target,
            health=Health(path=health_path, startup_timeout=startup_timeout, interval=0.05),
        ).with_changes(**changes)
        key = UnitKey("acme", "tests", deployment, version, "web")
        return Workload(key=key, spec=spec, bundle=bundle, bundle_digest=digest)


def processes_under(*folders: Path) -> list[int]:
    """PIDs (not this one) whose working directory or command line is inside ``folders``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(cwd.startswith(str(f)) or str(f) in cmdline for f in folders):
            found.append(int(entry.name))
    return found


async def wait_for(
    runtime: LocalRuntime,
    key: UnitKey,
    done: Callable[[Sequence[ReplicaStatus]], bool],
    *,
    within: float = 30.0,
) -> Sequence[ReplicaStatus]:
    """Poll ``observe`` until ``done(replicas of key)``; fail with what was seen last."""
    deadline = time.monotonic() + within
    seen: Sequence[ReplicaStatus] = ()
    while time.monotonic() < deadline:
        seen = (await runtime.observe()).get(key, ())
        if done(seen):
            return seen
        await asyncio.sleep(0.05)
    pytest.fail(f"not reached within {within}s; last seen: {seen}")


def all_in(phase: ReplicaPhase, count: int) -> Callable[[Sequence[ReplicaStatus]], bool]:
    return lambda seen: len(seen) == count and all(r.phase is phase for r in seen)


@pytest.fixture(scope="session")
def runtime_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime")


@pytest.fixture
def deployer(tmp_path: Path) -> Deployer:
    return Deployer(tmp_path)


@pytest.fixture
async def runtime(
    runtime_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LocalRuntime]:
    # Secrets in the control plane's environment, which no replica may see.
    monkeypatch.setenv("WAYPOST_ADMIN_TOKEN", "admin-secret")
    monkeypatch.setenv("WAYPOST_DATABASE_URL", "postgresql://waypost:pw@db/waypost")
    runtime = LocalRuntime(runtime_root, liveness_interval=0.3, liveness_failures=3, stop_grace=5.0)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()
        check_nothing_left(runtime_root, tmp_path)


def check_nothing_left(*folders: Path) -> None:
    left = processes_under(*folders)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"
