"""The gateway against going direct and against nginx, on the same trivial app, with wrk.

    .venv/bin/python -m bench.gateway [--seconds 8] [--connections 32] [--rounds 3] [--quick]

The app is ``bench.hello_wsgi`` under gunicorn (2 gthread workers). ``wrk`` (1 thread,
fixed connections, keep-alive, loopback, fixed duration) loads, in turn:

- the app directly;
- nginx as a keep-alive reverse proxy (config written to a temporary directory, run
  in the foreground, stopped by PID), with 1 and with 2 worker processes, three ways:
  bare (proxying only); doing the gateway's job besides proxying, configured as
  ingress-nginx does it (the route from the path by a regex location; X-VH-Prefix,
  X-Forwarded-For/-Proto/-Host and X-Request-ID to the app; the request id back to the
  client; a buffered JSON access-log line per request: ``bench.procs.NGINX_FORWARDING``);
  and that with a mirror: ``mirror`` (ngx_http_mirror_module) sends a copy of every
  request, over a keep-alive upstream, to the same failing mirror replica the gateway uses;
- the gateway with 1 and with 2 workers, fed a route snapshot by the test suite's fake
  control plane: a version URL; an alias with a 2-way split (two targets, same app);
  an alias with a mirror whose replica answers 500 at once (the worst mirror: every
  request costs a copy); request logs on (to a file) and metrics on, as in production;
- POSTs of a prediction-sized JSON body (``PREDICTION``, which the app reads) to the
  version URL, through the gateway and through nginx doing the same job (a wrk script);
- the gateway (1 worker) with 1,000 and 10,000 endpoints in its table;
- 10x overload: 2 workers, a target capped at 8 concurrent requests per gateway and
  a queue of 100, under 400 connections (memory must stay bounded; most get 503).

The nginx and gateway rows are measured in ``--rounds`` rounds, each round nginx's
rows then the gateway's, so that a slow spell of the shared machine falls on both
rather than on whichever ran in it; the table shows each row's median over the rounds.
It prints requests/s, p50 and p99 (wrk's), errors (non-2xx and socket errors, summed),
the ratio to direct, and for gateway rows the ratios to nginx doing the same job with
as many workers (the mirror row: to nginx + mirror), then to bare nginx: each the
median of the rounds' ratios (a gateway run over the nginx run of its round), with
the lowest and highest requests/s ratio of the rounds beside it. The forwarding
headers are not free for the app either (gunicorn parses each one): measured here, they
cost nginx's setup about 8 % of its requests/s, most of it in the app. "cpu us/req" is
the proxy's CPU time (user + system, summed over its processes from /proc) during the
run over the requests wrk completed; "mirrored" is the share of those requests whose
copy reached the mirror replica. Then the gateway's resident memory idle and under
load (summed over its processes). Targets: throughput >= 0.9x nginx, p99 <= 1.2x
nginx; the mirror row's p99 within 5 % of the version row's (issue #3). The machine is
shared: run it when it is quiet, and compare rows of one run, not runs
(``bench.gateway_cpu`` measures the gateway's CPU per request without that noise).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bench.procs import (
    WrkResult,
    cpu_seconds,
    parse_wrk,
    require,
    rss_kib,
    start_app,
    start_nginx,
)
from tests.integration.gateway.doubles import FakeControlPlane, ServerThread, _Site
from tests.integration.gateway.support import TOKEN, GatewayProcess, build_snapshot, free_port
from waypost.model.routes import RouteSnapshot

APP = "acme/bench/hello/1/web"
APP_B = "acme/bench/hello/2/web"
MIRROR = "acme/bench/shadow/1/web"
#: The body of the POST rows (and of ``bench.gateway_cpu --post``): a prediction's input.
PREDICTION = b'{"inputs": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], "parameters": {"top_k": 5}}'
CAPPED = "acme/bench/capped/1/web"
URLS = {
    "version URL": APP,
    "alias, 2-way split": "acme/bench/hello/split/web",
    "alias + failing mirror": "acme/bench/hello/mirrored/web",
    "capped target": CAPPED,
}


class Failing(_Site):
    """A mirror replica that answers 500 at once and keeps only a count of requests."""

    received = 0

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        self.received += 1
        return web.Response(status=500, text="no")


#: nginx's setups (name, with the mirror, doing the gateway's job besides proxying): see
#: ``bench.procs.NGINX_FORWARDING``. Gateway rows are compared with the same-job ones.
NGINX_SETUPS = (
    ("nginx, bare", False, False),
    ("nginx", False, True),
    ("nginx + mirror", True, True),
)


@dataclass
class Measured:
    """One wrk run against a proxy (or the app), with what the proxy spent on it."""

    result: WrkResult
    cpu_us: float | None = None  # proxy CPU time per completed request
    mirrored: float | None = None  # requests that reached the mirror, per completed request


@dataclass
class Row:
    name: str
    runs: list[Measured]  # one per round (rows outside the rounds: one)
    workers: int = 0  # gateway or nginx workers (0: direct)
    nginx: str = "nginx"  # nginx rows: their setup; gateway rows: the one compared with

    def median(self, value: Callable[[Measured], float | None]) -> float | None:
        values = [v for v in map(value, self.runs) if v is not None]
        return statistics.median(values) if values else None


def _record(rows: dict[str, Row], name: str, measured: Measured, workers: int, nginx: str) -> None:
    """Add a run to the row ``name`` (made by the first round)."""
    row = rows.setdefault(name, Row(name, [], workers, nginx))
    row.runs.append(measured)


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
    try:
        process.start(timeout=60)  # inside: a gateway that never gets healthy is stopped too
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


def wrk(
    wrk_path: str, url: str, *, connections: int, seconds: float, script: Path | None = None
) -> WrkResult:
    """``bench.procs.wrk``, reading the percentiles only from wrk's "Latency Distribution"
    lines: the shared parser can take the ``+/- Stdev`` column of the ``Req/Sec`` line
    (say ``72.50%``) for the 50th percentile and fail. ``script``: wrk's Lua script
    (``post_script``)."""
    argv = [wrk_path, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    head, _, distribution = done.stdout.partition("Latency Distribution")
    percentiles = re.findall(r"(?m)^\s*\d+%\s+\S+$", distribution)
    # The summary lines (requests/sec, socket errors, non-2xx) come after the distribution.
    rest = re.sub(r"(?m)^\s*\d+%\s+\S+$", "", distribution)
    return parse_wrk("\n".join(percentiles) + "\n" + head.replace("%", "") + rest)


def post_script(work: Path) -> Path:
    """A wrk script that POSTs ``PREDICTION`` as JSON."""
    lua = (
        'wrk.method = "POST"\n'
        f"wrk.body = '{PREDICTION.decode()}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    path = work / "post.lua"
    path.write_text(lua)
    return path


def run(
    wrk_path: str,
    url: str,
    args: argparse.Namespace,
    *,
    proxy: int | None = None,
    mirror: Failing | None = None,
    connections: int | None = None,
    script: Path | None = None,
) -> Measured:
    """A 1 s warm-up, then the measured run; with ``proxy`` (a PID), the CPU time of it
    and its descendants over the measured run; with ``mirror``, the copies it received."""
    connections = connections or args.connections
    wrk(wrk_path, url, connections=connections, seconds=1, script=script)  # warm up
    time.sleep(0.2)  # the warm-up's last mirror copies land before the count starts
    cpu_before = cpu_seconds(proxy) if proxy is not None else 0.0
    copies_before = mirror.received if mirror is not None else 0
    result = wrk(wrk_path, url, connections=connections, seconds=args.seconds, script=script)
    cpu_after = cpu_seconds(proxy) if proxy is not None else 0.0
    time.sleep(0.2)  # and so do the measured run's
    copies = mirror.received - copies_before if mirror is not None else 0
    requests = max(result.requests, 1)
    return Measured(
        result,
        (cpu_after - cpu_before) * 1e6 / requests if proxy is not None else None,
        copies / requests if mirror is not None else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the nginx and gateway rows"
    )
    parser.add_argument(
        "--quick", action="store_true", help="skip the 10,000-endpoint and overload runs"
    )
    args = parser.parse_args()
    wrk_path = require("wrk", "/usr/bin/wrk")
    nginx_path = require("nginx", "/usr/sbin/nginx")
    rows: dict[str, Row] = {}
    memory: dict[str, tuple[int, int]] = {}  # idle and peak RSS, the highest of the rounds
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
            print(
                f"wrk: 1 thread, {args.connections} connections, {args.seconds:g} s per row;"
                f" nginx and gateway rows: {args.rounds} round(s), medians"
            )
            args.post_script = post_script(work)
            direct = run(wrk_path, f"http://{app.address}/", args)
            _record(rows, "direct (gunicorn, 2 workers)", direct, 0, "")
            for _ in range(args.rounds):
                for workers in (1, 2):
                    _nginx_rows(
                        nginx_path, wrk_path, app.address, failing, workers, work, args, rows
                    )
                    _gateway_rows(
                        control, token, work, wrk_path, failing, workers, args, rows, memory
                    )
            sizes = (1000,) if args.quick else (1000, 10_000)
            for size in sizes:
                control.publish(snapshot(app.address, failing.address, 1 + size, size))
                with gateway(control, token, work, 1) as gw:
                    idle = rss_kib(gw.pid)
                    key = f"acme/scale{(size // 2) % 100}/model{size // 2}/1/web"
                    with peak_rss(gw.pid) as sampled:
                        measured = run(wrk_path, f"{gw.url}/{key}/", args, proxy=gw.pid)
                    _record(rows, f"gateway 1w: {size:,} endpoints", measured, 1, "nginx")
                    memory[f"gateway, 1 worker, {size:,} endpoints"] = (idle, sampled[0])
            if not args.quick:
                control.publish(snapshot(app.address, failing.address, 100_000))
                with gateway(control, token, work, 2) as gw:
                    idle = rss_kib(gw.pid)
                    with peak_rss(gw.pid) as sampled:
                        measured = run(
                            wrk_path, f"{gw.url}/{CAPPED}/", args, proxy=gw.pid, connections=400
                        )
                    _record(rows, "gateway 2w: capped 8, 400 conns", measured, 2, "nginx")
                    memory["gateway, 2 workers, 10x overload"] = (idle, sampled[0])
        finally:
            for stop in stoppers:
                try:
                    stop()
                except Exception as exc:
                    print(f"  (cleanup: {exc!r})")
            if rows:  # also when a run failed: the rows measured before it
                _print(list(rows.values()), memory)


def _nginx_rows(
    nginx_path: str,
    wrk_path: str,
    app: str,
    failing: Failing,
    workers: int,
    work: Path,
    args: argparse.Namespace,
    rows: dict[str, Row],
) -> None:
    """One round of nginx's setups with ``workers`` workers, each a fresh nginx."""
    for setup, mirror, same_job in NGINX_SETUPS:
        proxy = start_nginx(
            nginx_path,
            app,
            workers,
            work / f"nginx{workers}-{setup.replace(' ', '')}-{time.monotonic_ns()}",
            mirror=failing.address if mirror else None,
            same_job=same_job,
        )
        try:
            url = f"http://{proxy.address}/{APP}/"
            pid = proxy.process.pid
            measured = run(wrk_path, url, args, proxy=pid, mirror=failing if mirror else None)
            _record(rows, f"{setup}, {workers} worker(s)", measured, workers, setup)
            if setup == "nginx":
                posted = run(wrk_path, url, args, proxy=pid, script=args.post_script)
                _record(rows, f"nginx, POST, {workers} worker(s)", posted, workers, "nginx, POST")
        finally:
            proxy.stop()


def _gateway_rows(
    control: FakeControlPlane,
    token: Path,
    work: Path,
    wrk_path: str,
    failing: Failing,
    workers: int,
    args: argparse.Namespace,
    rows: dict[str, Row],
    memory: dict[str, tuple[int, int]],
) -> None:
    """One round of the gateway's rows with ``workers`` workers, on a fresh gateway."""
    with gateway(control, token, work, workers) as gw:
        idle = rss_kib(gw.pid)
        peak = 0
        for name in ("version URL", "alias, 2-way split", "alias + failing mirror"):
            mirrored = name == "alias + failing mirror"
            with peak_rss(gw.pid) as sampled:
                measured = run(
                    wrk_path,
                    f"{gw.url}/{URLS[name]}/",
                    args,
                    proxy=gw.pid,
                    mirror=failing if mirrored else None,
                )
            peak = max(peak, sampled[0])
            base = "nginx + mirror" if mirrored else "nginx"
            _record(rows, f"gateway {workers}w: {name}", measured, workers, base)
        with peak_rss(gw.pid) as sampled:
            url = f"{gw.url}/{APP}/"
            posted = run(wrk_path, url, args, proxy=gw.pid, script=args.post_script)
        peak = max(peak, sampled[0])
        _record(rows, f"gateway {workers}w: version URL, POST", posted, workers, "nginx, POST")
    key = f"gateway, {workers} worker(s)"
    before = memory.get(key, (0, 0))
    memory[key] = (max(before[0], idle), max(before[1], peak))


def _print(rows: list[Row], memory: dict[str, tuple[int, int]]) -> None:
    direct = rows[0].median(_rps) or 1.0
    nginx = {(r.nginx, r.workers): r for r in rows if r.name.startswith("nginx")}
    print()
    header = (
        f"{'path':<40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'/direct':>8} {'/nginx rps':>10} {'(rounds)':>11} {'/nginx p99':>10}"
        f" {'/bare rps':>9} {'/bare p99':>9} {'cpu us/req':>10} {'mirrored':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        gateway = row.name.startswith("gateway")
        vs = nginx.get((row.nginx, row.workers)) if gateway else None
        # A POST row has no bare counterpart: bare nginx is measured with GETs only.
        bare = (
            nginx.get(("nginx, bare", row.workers)) if gateway and "POST" not in row.nginx else None
        )
        rps = row.median(_rps) or 0.0
        cpu = row.median(lambda m: m.cpu_us)
        mirrored = row.median(lambda m: m.mirrored)
        errors = sum(m.result.errors for m in row.runs)
        print(
            f"{row.name:<40} {rps:>9.0f} {row.median(_p50) or 0:>8.2f}"
            f" {row.median(_p99) or 0:>8.2f} {errors:>7} {rps / direct:>8.2f}"
            f" {_cell(row, vs, _rps, 10)} {_spread(row, vs):>11} {_cell(row, vs, _p99, 10)}"
            f" {_cell(row, bare, _rps, 9)} {_cell(row, bare, _p99, 9)}"
            f" {'' if cpu is None else f'{cpu:.1f}':>10}"
            f" {'' if mirrored is None else f'{mirrored:.0%}':>8}"
        )
    print()
    print(f"{'gateway memory (RSS, all processes)':<40} {'idle MiB':>9} {'load MiB':>9}")
    for name, (idle, peak) in memory.items():
        print(f"{name:<40} {idle / 1024:>9.1f} {peak / 1024:>9.1f}")


def _rps(m: Measured) -> float:
    return m.result.rps


def _p50(m: Measured) -> float:
    return m.result.p50_ms


def _p99(m: Measured) -> float:
    return m.result.p99_ms


def _ratios(row: Row, base: Row, value: Callable[[Measured], float]) -> list[float]:
    """``row``'s runs over ``base``'s, round by round (a row outside the rounds: over
    each of ``base``'s runs)."""
    if len(row.runs) == len(base.runs):
        pairs = list(zip(row.runs, base.runs, strict=True))
    else:
        pairs = [(run, other) for run in row.runs for other in base.runs]
    return [value(a) / value(b) for a, b in pairs]


def _cell(row: Row, base: Row | None, value: Callable[[Measured], float], width: int) -> str:
    """The median ratio of ``value`` to ``base`` (blank without one)."""
    if base is None:
        return f"{'':>{width}}"
    return f"{statistics.median(_ratios(row, base, value)):>{width}.2f}"


def _spread(row: Row, base: Row | None) -> str:
    """The lowest and highest requests/s ratio of the rounds."""
    if base is None or len(base.runs) < 2:
        return ""
    ratios = _ratios(row, base, _rps)
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


if __name__ == "__main__":
    main()
