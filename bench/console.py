"""How fast the console's endpoint list loads with 200 endpoints (target: 300 ms or less).

    .venv/bin/python -m bench.console [--endpoints 200] [--rounds 20] [--no-browser]

The control plane's real app (store on SQLite in a temp home, the console mounted)
is served by uvicorn on a free loopback port, with a runtime that runs nothing: the
endpoints are made through the API (``--endpoints`` of them, 20 per deployment, states
spread over the lifecycle) and a gateway report gives each some traffic. Measured:

- ``GET /`` (the whole list page, HTML) and ``GET /console/fragments/endpoints`` (what
  the page polls every second), each ``--rounds`` times with a signed-in cookie;
- the page in Debian's Chromium (headless): navigation start to the ``load`` event,
  ``--rounds`` times (skipped with ``--no-browser`` or without /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import statistics
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import uvicorn

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.context import CONSOLE_COOKIE
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.model.lifecycle import EndpointState
from waypost.model.prefix import UnitKey
from waypost.model.report import GatewayReport, TargetLoad
from waypost.runtimes.base import LogChunk, ReplicaStatus, Workload
from waypost.settings import Settings
from waypost.store import Store

TOKEN = "wp_bench_console"
PER_DEPLOYMENT = 20
CHROMIUM = Path("/usr/bin/chromium")
TARGET_MS = 300.0


class IdleRuntime:
    name = "idle"

    async def start(self) -> None: ...
    async def build(self, workload: Workload, log: object) -> None: ...
    async def scale(self, workload: Workload, replicas: int) -> None: ...
    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        return {}

    async def remove(self, key: UnitKey) -> None: ...
    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        return LogChunk("", 0)

    async def close(self) -> None: ...


def bundle(text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("waypost.yaml", text.encode()), ("app.py", b"app = None\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def populate(app: object, service: ControlService, store: Store, endpoints: int) -> None:
    states = list(EndpointState)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    made = 0
    loads = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        deployment = 0
        while made < endpoints:
            count = min(PER_DEPLOYMENT, endpoints - made)
            names = [f"ep{i}" for i in range(count)]
            text = f"project: acme/bench\ndeployment: d{deployment}\nendpoints:\n" + "".join(
                f"  - name: {n}\n    wsgi: app:app\n" for n in names
            )
            answer = await client.post(
                f"/api/v1/projects/acme/bench/deployments/d{deployment}/versions",
                files={"bundle": ("b.tar.gz", bundle(text), "application/gzip")},
                headers=auth,
            )
            answer.raise_for_status()
            for i, name in enumerate(names):
                key = UnitKey("acme", "bench", f"d{deployment}", 1, name)
                state = states[(made + i) % len(states)]
                if state is not EndpointState.BUILDING:
                    store.record_transition(key, state, reason="bench", actor="bench")
                loads.append(TargetLoad(key.id, 1, 50, 1, 500.0))
            made += count
            deployment += 1
    now = time.time()
    service.record_traffic(GatewayReport("bench/1", now, 1.0, targets=tuple(loads)), now)


def timed_gets(url: str, rounds: int) -> list[float]:
    times = []
    with httpx.Client(cookies={CONSOLE_COOKIE: TOKEN}, trust_env=False, timeout=30) as client:
        client.get(url).raise_for_status()  # warm up
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(url)
            response.raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


def browser_loads(base: str, rounds: int, profile: Path) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        context.add_cookies([{"name": CONSOLE_COOKIE, "value": TOKEN, "url": base}])
        page = context.new_page()
        page.goto(base + "/")  # warm up: static files cached as a returning user has them
        for _ in range(rounds):
            page.goto(base + "/", wait_until="load")
            ms = page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd - n.startTime; }"
            )
            times.append(float(ms))
        rows = page.locator("tr[data-key]").count()
        context.close()
    print(f"(the browser showed {rows} endpoint rows)")
    return times


def summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    median = statistics.median(ordered)
    verdict = "ok" if median <= TARGET_MS else "SLOW"
    return f"{name:<44} {median:>9.1f} {p95:>9.1f} {max(ordered):>9.1f}  {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="waypost-bench-console-") as tmp:
        home = Path(tmp)
        port = free_port()
        settings = Settings(home=home, api_port=port)
        store = Store.open(settings.db_url)
        tokens = TokenCheck()
        tokens.allow(TOKEN, Principal("bench", "admin"))
        service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
        app = create_app(ControlContext(service, IdleRuntime(), tokens))  # type: ignore[arg-type]
        asyncio.run(populate(app, service, store, args.endpoints))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            rows = [
                summary(
                    f"GET / ({args.endpoints} endpoints, server)",
                    timed_gets(base + "/", args.rounds),
                ),
                summary(
                    "GET /console/fragments/endpoints (poll)",
                    timed_gets(base + "/console/fragments/endpoints", args.rounds),
                ),
            ]
            if not args.no_browser and CHROMIUM.exists():
                rows.append(
                    summary(
                        "page load in Chromium (to the load event)",
                        browser_loads(base, args.rounds, home / "profile"),
                    )
                )
        finally:
            server.should_exit = True
            thread.join(10)
            store.close()
    print(f"{'measure (ms)':<44} {'median':>9} {'p95':>9} {'max':>9}  target {TARGET_MS:.0f} ms")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
