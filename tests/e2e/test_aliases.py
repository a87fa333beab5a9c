"""Aliases end to end: the real CLI sets policies on a real ``waypost up``; traffic goes
through the real gateway to real replicas. Which version answered is read from the
``VH_DEFAULT_PREFIX`` the examples/server-command app echoes."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.platform import EXAMPLES, Platform, free_port

pytestmark = pytest.mark.e2e

ECHO = EXAMPLES / "server-command"
SLOW_APP = """\
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if os.environ["MODE"] == "slow" and "/x" in self.path:
            time.sleep(5)
        status = 500 if os.environ["MODE"] == "fail" and "/x" in self.path else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def version_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["default_prefix"]).split("/")[3]


def binomial_99(n: int, p: float) -> tuple[float, float]:
    spread = 2.576 * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


@pytest.fixture
def two_versions(platform: Platform) -> Platform:
    for _ in range(2):
        platform.deploy(ECHO)
    return platform


def alias_set(platform: Platform, *args: str) -> None:
    result = platform.cli("alias", "set", *args, "--project", "acme/hello")
    assert result.returncode == 0, result.stdout + result.stderr


def test_weighted_split_and_stickiness(two_versions: Platform) -> None:
    platform = two_versions
    alias_set(platform, "plain-server/ab", "1=90", "2=10")
    url = f"{platform.gateway}/acme/hello/plain-server/ab/echo/x"
    n = 2000
    with httpx.Client(timeout=10) as client:
        seen = Counter(version_of(client.get(url)) for _ in range(n))
        assert seen["1"] + seen["2"] == n
        low, high = binomial_99(n, 0.1)
        if not low <= seen["2"] <= high:
            # 1 fair run in 100 lands outside; two independent runs, 1 in 10,000.
            seen = Counter(version_of(client.get(url)) for _ in range(n))
            assert low <= seen["2"] <= high, seen

        # The prefix as requested reaches the app: the alias, not the version.
        answer = client.get(url, headers={"X-VH-Prefix": "evil/prefix"}).json()
        assert answer["prefix_header"] == "acme/hello/plain-server/ab/echo"

        alias_set(platform, "plain-server/ab", "1=50", "2=50", "--sticky", "header:X-User-ID")
        for user in ("ada", "bob", "cyd"):
            got = {version_of(client.get(url, headers={"X-User-ID": user})) for _ in range(40)}
            assert len(got) == 1, (user, got)


def test_alias_change_under_load_fails_no_request(two_versions: Platform) -> None:
    platform = two_versions
    alias_set(platform, "plain-server/live", "1")
    url = f"{platform.gateway}/acme/hello/plain-server/live/echo/x"
    failures: list[str] = []
    answered: Counter[str] = Counter()
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    answered[version_of(client.get(url))] += 1
                except (httpx.HTTPError, AssertionError) as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for target in ("2", "1", "2", "1", "2"):
            alias_set(platform, "plain-server/live", target)
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert answered["1"] > 0
    assert answered["2"] > 0
    history = platform.cli("alias", "history", "plain-server/live", "-p", "acme/hello", "--json")
    assert len(json.loads(history.stdout)) == 6


def _deploy_stub(platform: Platform, root: Path, name: str, mode: str) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "serve.py").write_text(SLOW_APP)
    (folder / "waypost.yaml").write_text(
        f"project: acme/hello\ndeployment: {name}\nendpoints:\n"
        f"  - name: echo\n    server-command: python serve.py\n    env: {{MODE: {mode}}}\n"
    )
    platform.deploy(folder)


def _latencies(url: str, n: int) -> tuple[list[float], int]:
    took, errors = [], 0
    with httpx.Client(timeout=10) as client:
        for _ in range(n):
            started = time.perf_counter()
            if client.get(url).status_code != 200:
                errors += 1
            took.append(time.perf_counter() - started)
    return sorted(took), errors


def test_slow_and_failing_mirrors_do_not_touch_the_primary(
    two_versions: Platform, tmp_path: Path
) -> None:
    platform = two_versions
    _deploy_stub(platform, tmp_path, "slowpoke", "slow")
    _deploy_stub(platform, tmp_path, "crashy", "fail")
    alias_set(platform, "plain-server/plain", "1")
    alias_set(
        platform, "plain-server/shadowed", "1", "--mirror", "slowpoke:1", "--mirror", "crashy:1"
    )
    base, base_errors = _latencies(f"{platform.gateway}/acme/hello/plain-server/plain/echo/x", 200)
    mirrored, errors = _latencies(
        f"{platform.gateway}/acme/hello/plain-server/shadowed/echo/x", 200
    )
    p99_base, p99_mirrored = base[int(len(base) * 0.99)], mirrored[int(len(mirrored) * 0.99)]
    print(
        f"primary p99 without mirrors {p99_base * 1000:.1f} ms, with {p99_mirrored * 1000:.1f} ms"
    )
    assert base_errors == errors == 0
    # A mirror that takes 5 s must not show in the primary's latency at all.
    assert p99_mirrored < max(2 * p99_base, p99_base + 0.05)


class _Sink(BaseHTTPRequestHandler):
    lines: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Sink.lines.extend(json.loads(line) for line in body.decode().splitlines() if line)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    _Sink.lines = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/logs"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_request_logs_name_backends_and_reach_the_log_sink(
    two_versions: Platform, sink: str
) -> None:
    platform = two_versions
    response = httpx.put(
        f"{platform.api}/api/v1/projects/acme/hello/log-sinks",
        json={"urls": [sink]},
        headers={"Authorization": f"Bearer {platform.token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    alias_set(platform, "plain-server/ab", "1=50", "2=50")
    time.sleep(1.0)  # the sink reaches the gateways with the routes
    ids = set()
    with httpx.Client(timeout=10) as client:
        for _ in range(50):
            answer = client.get(f"{platform.gateway}/acme/hello/plain-server/ab/echo/x")
            ids.add(answer.headers["X-Request-ID"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = {line.get("request_id") for line in _Sink.lines}
        if ids <= got:
            break
        time.sleep(0.2)
    lines = [line for line in _Sink.lines if line.get("request_id") in ids]
    assert {line["request_id"] for line in lines} == ids
    assert {line["backend"] for line in lines} == {"v1", "v2"}
    assert all(line["alias"] == "ab" for line in lines)
