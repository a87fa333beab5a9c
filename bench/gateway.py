"""The gateway against going direct and against nginx, on the same trivial app, with wrk.

    .venv/bin/python -m bench.gateway [--seconds 8] [--connections 32] [--quick]

The app is ``bench.hello_wsgi`` under gunicorn (2 gthread workers). ``wrk`` (1 thread,
fixed connections, keep-alive, loopback, fixed duration) loads, in turn:

- the app directly;
- nginx as a keep-alive reverse proxy (config written to a temporary directory, run
  in the foreground, stopped by PID), with 1 and with 2 worker processes;
- the gateway with 1 and with 2 workers, fed a route snapshot by the test suite's fake
  control plane: a version URL; an alias with a 2-way split (two targets, same app);
  an alias with a mirror whose replica answers 500 at once (the worst mirror: every
  request costs a copy); request logs on (to a file) and metrics on, as in production;
- the gateway (1 worker) with 1,000 and 10,000 endpoints in its table;
- 10x overload: 2 workers, a target capped at 8 concurrent requests per gateway and
  a queue of 100, under 400 connections (memory must stay bounded; most get 503).

It prints requests/s, p50 and p99 (wrk's), errors (non-2xx and socket errors), the
ratios gateway/direct and gateway/nginx (nginx with as many workers as the gateway),
and the gateway's resident memory idle and under load (summed over its processes).
Targets: throughput >= 0.9x nginx's, p99 <= 1.2x nginx's; the mirror row's p99
within 5 % of the version row's. The machine is shared: run it when it is quiet,
and compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bench.procs import WrkResult, parse_wrk, require, rss_kib, start_app, start_nginx
from tests.integration.gateway.doubles import FakeControlPlane, ServerThread, _Site
from tests.integration.gateway.support import TOKEN, GatewayProcess, build_snapshot, free_port
from waypost.model.routes import RouteSnapshot

APP = "acme/bench/hello/1/web"
APP_B = "acme/bench/hello/2/web"
MIRROR = "acme/bench/shadow/1/web"
CAPPED = "acme/bench/capped/1/web"
URLS = {
    "version URL": APP,
    "alias, 2-way split": "acme/bench/hello/split/web",
    "alias + failing mirror": "acme/bench/hello/mirrored/web",
    "capped target": CAPPED,
}


class Failing(_Site):
    """A mirror replica that answers 500 at once and keeps nothing."""

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        return web.Response(status=500, text="no")


@dataclass
class Row:
    name: str
    result: WrkResult
    workers: int = 0  # gateway or nginx workers (0: direct)
    rss_load_kib: int | None = None


def snapshot(app: str, failing: str, revision: int, extra_endpoints: int = 0) -> RouteSnapshot:
    routes: dict[str, list[tuple[str, int, str]]] = {
        APP: [("v1", 1, APP)],
        URLS["alias, 2-way split"]: [("one", 1, APP), ("two", 1, APP_B)],
        URLS["alias + failing mirror"]: [("v1", 1, APP)],
        CAPPED: [("v1", 1, CAPPED)],
    }
    targets = {APP: [app], APP_B: [app], MIRROR: [failing], CAPPED: [app]}
    for n in range(extra_endpoints):
        key = f"acme/scale{n % 100}/model{n}/1/web"
        routes[key] = [("v1", 1, key)]
        targets[key] = [app]
    return build_snapshot(
        routes,
        targets,
        revision=revision,
        mirrors={URLS["alias + failing mirror"]: [("shadow", MIRROR)]},
        settings={CAPPED: {"max_concurrency": 8, "queue_size": 100, "queue_timeout": 10.0}},
    )


@contextmanager
def peak_rss(pid: int) -> Iterator[list[int]]:
    """Sample the RSS of ``pid`` and its children every 0.2 s; the peak lands in the list."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_kib(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join(5)


@contextmanager
def gateway(
    control: FakeControlPlane, token: Path, work: Path, workers: int
) -> Iterator[GatewayProcess]:
    log_dir = work / f"gateway-{workers}-{time.monotonic_ns()}"
    log_dir.mkdir()
    process = GatewayProcess(free_port(), control.url, token, log_dir, workers=workers)
    process.start(timeout=60)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # every worker has the table
            if all(process.health()["revision"] >= control.snapshot.revision for _ in range(8)):
                break
            time.sleep(0.1)
        yield process
    finally:
        code = process.stop()
        if code != 0:
            print(f"  (gateway exited with {code}; see {process.stderr_path})")


def wrk(wrk_path: str, url: str, *, connections: int, seconds: float) -> WrkResult:
    """``bench.procs.wrk``, reading the percentiles only from wrk's "Latency Distribution"
    lines: the shared parser can take the ``+/- Stdev`` column of the ``Req/Sec`` line
    (say ``72.50%``) for the 50th percentile and fail."""
    argv = [wrk_path, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    head, _, distribution = done.stdout.partition("Latency Distribution")
    percentiles = re.findall(r"(?m)^\s*\d+%\s+\S+$", distribution)
    # The summary lines (requests/sec, socket errors, non-2xx) come after the distribution.
    rest = re.sub(r"(?m)^\s*\d+%\s+\S+$", "", distribution)
    return parse_wrk("\n".join(percentiles) + "\n" + head.replace("%", "") + rest)


def run(
    wrk_path: str, url: str, args: argparse.Namespace, connections: int | None = None
) -> WrkResult:
    wrk(wrk_path, url, connections=connections or args.connections, seconds=1)  # warm up
    return wrk(wrk_path, url, connections=connections or args.connections, seconds=args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--quick", action="store_true", help="skip the 10,000-endpoint and overload runs"
    )
    args = parser.parse_args()
    wrk_path = require("wrk", "/usr/bin/wrk")
    nginx_path = require("nginx", "/usr/sbin/nginx")
    rows: list[Row] = []
    memory: list[tuple[str, int, int]] = []
    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as tmp:
        work = Path(tmp)
        token = work / "token"
        token.write_text(TOKEN + "\n")
        app = start_app(2, work)
        thread = ServerThread()
        control = FakeControlPlane(thread, free_port())
        failing = Failing(thread, free_port())
        stoppers: list[Callable[[], None]] = [control.stop, failing.stop, thread.close, app.stop]
        try:
            control.start()
            failing.start()
            control.publish(snapshot(app.address, failing.address, 1))
            print(f"wrk: 1 thread, {args.connections} connections, {args.seconds:g} s per row")
            rows.append(
                Row("direct (gunicorn, 2 workers)", run(wrk_path, f"http://{app.address}/", args))
            )
            for workers in (1, 2):
                proxy = start_nginx(nginx_path, app.address, workers, work / f"nginx{workers}")
                try:
                    rows.append(
                        Row(
                            f"nginx, {workers} worker(s)",
                            run(wrk_path, f"http://{proxy.address}/{APP}/", args),
                            workers,
                        )
                    )
                finally:
                    proxy.stop()
            for workers in (1, 2):
                with gateway(control, token, work, workers) as gw:
                    idle = rss_kib(gw.pid)
                    peak = 0
                    for name in ("version URL", "alias, 2-way split", "alias + failing mirror"):
                        with peak_rss(gw.pid) as sampled:
                            result = run(wrk_path, f"{gw.url}/{URLS[name]}/", args)
                        peak = max(peak, sampled[0])
                        rows.append(Row(f"gateway {workers}w: {name}", result, workers, sampled[0]))
                    memory.append((f"gateway, {workers} worker(s)", idle, peak))
            sizes = (1000,) if args.quick else (1000, 10_000)
            for size in sizes:
                control.publish(snapshot(app.address, failing.address, 1 + size, size))
                with gateway(control, token, work, 1) as gw:
                    idle = rss_kib(gw.pid)
                    key = f"acme/scale{(size // 2) % 100}/model{size // 2}/1/web"
                    with peak_rss(gw.pid) as sampled:
                        result = run(wrk_path, f"{gw.url}/{key}/", args)
                    rows.append(Row(f"gateway 1w: {size:,} endpoints", result, 1, sampled[0]))
                    memory.append((f"gateway, 1 worker, {size:,} endpoints", idle, sampled[0]))
            if not args.quick:
                control.publish(snapshot(app.address, failing.address, 100_000))
                with gateway(control, token, work, 2) as gw:
                    idle = rss_kib(gw.pid)
                    with peak_rss(gw.pid) as sampled:
                        result = run(wrk_path, f"{gw.url}/{CAPPED}/", args, connections=400)
                    rows.append(Row("gateway 2w: capped 8, 400 conns", result, 2, sampled[0]))
                    memory.append(("gateway, 2 workers, 10x overload", idle, sampled[0]))
        finally:
            for stop in stoppers:
                try:
                    stop()
                except Exception as exc:
                    print(f"  (cleanup: {exc!r})")
    _print(rows, memory)


def _print(rows: list[Row], memory: list[tuple[str, int, int]]) -> None:
    direct = rows[0].result
    nginx = {r.workers: r.result for r in rows if r.name.startswith("nginx")}
    print()
    header = (
        f"{'path':<40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'/direct':>8} {'/nginx rps':>10} {'/nginx p99':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        r = row.result
        vs = nginx.get(row.workers) if row.name.startswith("gateway") else None
        ratio_rps = f"{r.rps / vs.rps:.2f}" if vs else ""
        ratio_p99 = f"{r.p99_ms / vs.p99_ms:.2f}" if vs else ""
        print(
            f"{row.name:<40} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7}"
            f" {r.rps / direct.rps:>8.2f} {ratio_rps:>10} {ratio_p99:>10}"
        )
    print()
    print(f"{'gateway memory (RSS, all processes)':<40} {'idle MiB':>9} {'load MiB':>9}")
    for name, idle, peak in memory:
        print(f"{name:<40} {idle / 1024:>9.1f} {peak / 1024:>9.1f}")


if __name__ == "__main__":
    main()
