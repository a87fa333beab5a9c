"""Mirrors must not cost the primary, and route changes must be live within a second.

    .venv/bin/python -m bench.aliases [--seconds 10] [--connections 16] [--rounds 2]
                                      [--changes 20] [--service-ms 0,10]

A real gateway process (one worker) in front of aiohttp replicas, with the test suite's
fake control plane; the doubles run in a child process, so the load generator has this
process to itself. One snapshot holds three routes to the same primary replica:

- ``none``: no mirror;
- ``slow``: a mirror whose replica sleeps 5 s before answering (copies pile up: 16 in
  flight, 256 queued, the rest dropped);
- ``fail``: a mirror whose replica answers 500 at once (every request costs a copy).

Each is loaded with the same closed-loop generator (``bench.loadgen``: N connections
back to back for S seconds), in interleaved rounds; the table shows the median round.
It is run once per primary service time (``--service-ms``): with 0 ms the gateway is
the bottleneck, so a mirror that answers at once (each request costs a second upstream
request) shows its CPU cost; with a few ms, as a model takes, the gateway has headroom
and the figures show whether a mirror delays the primary at all.
Then the route ``flip`` is switched between two replicas ``--changes`` times: the time
from publishing the snapshot to the first request answered by the new replica.
Targets: the primary's p99 with a mirror within 5 % of the one without; propagation
under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import multiprocessing.connection
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.loadgen import LoadResult, run_load
from tests.integration.gateway.doubles import FakeControlPlane, ServerThread
from tests.integration.gateway.support import TOKEN, GatewayProcess, build_snapshot, free_port
from waypost.model.routes import RouteSnapshot

PRIMARY = "acme/bench/app/1/web"
FLIP_A = "acme/bench/app/2/web"
FLIP_B = "acme/bench/app/3/web"
SLOW = "acme/bench/shadow/1/web"
FAIL = "acme/bench/shadow/2/web"
ROUTES = {"none": "acme/bench/app/none/web", "slow": "acme/bench/app/slow/web"}
ROUTES["fail"] = "acme/bench/app/fail/web"
FLIP = "acme/bench/app/flip/web"


def snapshot(ports: dict[str, int], flip_to: str, revision: int) -> RouteSnapshot:
    def address(name: str) -> list[str]:
        return [f"127.0.0.1:{ports[name]}"]

    flip_target = FLIP_A if flip_to == "a" else FLIP_B
    return build_snapshot(
        {
            ROUTES["none"]: [("main", 1, PRIMARY)],
            ROUTES["slow"]: [("main", 1, PRIMARY)],
            ROUTES["fail"]: [("main", 1, PRIMARY)],
            FLIP: [(flip_to, 1, flip_target)],
        },
        {
            PRIMARY: address("primary"),
            FLIP_A: address("a"),
            FLIP_B: address("b"),
            SLOW: address("slow"),
            FAIL: address("fail"),
        },
        mirrors={ROUTES["slow"]: [("sleepy", SLOW)], ROUTES["fail"]: [("broken", FAIL)]},
        revision=revision,
    )


async def _serve_replica(port: int, name: str, *, delay: float = 0.0, status: int = 200) -> None:
    body = json.dumps({"replica": name}).encode()

    async def handle(request: web.BaseRequest) -> web.Response:
        await request.read()
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, body=body, content_type="application/json")

    server = web.Server(handle, access_log=None, handler_cancellation=True)
    runner = web.ServerRunner(server, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()


def _doubles(
    ports: dict[str, int], service_ms: float, conn: multiprocessing.connection.Connection
) -> None:
    """The child process: control plane and replicas; publishes what the parent sends."""
    thread = ServerThread()
    control = FakeControlPlane(thread, ports["control"])
    control.start()

    async def start() -> None:
        await _serve_replica(ports["primary"], "primary", delay=service_ms / 1000)
        await _serve_replica(ports["a"], "a")
        await _serve_replica(ports["b"], "b")
        await _serve_replica(ports["slow"], "slow", delay=5.0)
        await _serve_replica(ports["fail"], "fail", status=500)

    thread.call(start())
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            break
        control.publish(RouteSnapshot.from_json(message))
        conn.send("published")


async def _flip_until(url: str, want: str, session: aiohttp.ClientSession, limit: float) -> None:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        async with session.get(url) as response:
            if response.status == 200 and (await response.json())["replica"] == want:
                return
    raise RuntimeError(f"{url} did not move to {want} within {limit}s")


def _propagation(
    gateway: GatewayProcess, ports: dict[str, int], conn: Any, changes: int, revision: int
) -> list[float]:
    url = f"{gateway.url}/{FLIP}/"

    async def measure() -> list[float]:
        seconds = []
        async with aiohttp.ClientSession() as session:
            for i in range(changes):
                want = "b" if i % 2 == 0 else "a"
                started = time.perf_counter()
                conn.send(snapshot(ports, want, revision + i).to_json())
                conn.recv()
                await _flip_until(url, want, session, 5.0)
                seconds.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)
        return seconds

    return asyncio.run(measure())


def _mirror_outcomes(gateway: GatewayProcess) -> dict[str, collections.Counter[str]]:
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    with gateway.stdout_path.open() as lines:
        for text in lines:
            if '"kind":"mirror"' in text:
                line = json.loads(text)
                outcome = line["outcome"]
                if outcome == "status":
                    outcome = str(line["status"])
                outcomes[line["route"]][outcome] += 1
    return outcomes


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _run_case(args: argparse.Namespace, service_ms: float) -> None:
    names = ("control", "primary", "a", "b", "slow", "fail")
    ports = {name: free_port() for name in names}
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    doubles = context.Process(
        target=_doubles, args=(ports, service_ms, child), name="bench-doubles", daemon=True
    )
    doubles.start()
    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as tmp:
        token_file = Path(tmp) / "token"
        token_file.write_text(TOKEN)
        gateway = GatewayProcess(
            free_port(), f"http://127.0.0.1:{ports['control']}", token_file, Path(tmp)
        )
        try:
            if not parent.poll(20) or parent.recv() != "ready":
                raise RuntimeError("the doubles did not start")
            parent.send(snapshot(ports, "a", 1).to_json())
            parent.recv()
            gateway.start()
            gateway.wait_revision(1)
            results: dict[str, list[LoadResult]] = {case: [] for case in ROUTES}
            for route in ROUTES.values():  # warm every path once
                run_load(f"{gateway.url}/{route}/", connections=args.connections, seconds=1)
            for round_ in range(args.rounds):
                order = list(ROUTES) if round_ % 2 == 0 else list(reversed(ROUTES))
                for case in order:
                    url = f"{gateway.url}/{ROUTES[case]}/predict"
                    results[case].append(
                        run_load(url, connections=args.connections, seconds=args.seconds)
                    )
            propagation = _propagation(gateway, ports, parent, args.changes, 2)
        finally:
            gateway.stop()
            parent.send(None)
            doubles.join(10)
            if doubles.is_alive():
                doubles.kill()
                doubles.join(5)
        outcomes = _mirror_outcomes(gateway)
    _print(args, service_ms, results, outcomes, propagation)


def _print(
    args: argparse.Namespace,
    service_ms: float,
    results: dict[str, list[LoadResult]],
    outcomes: dict[str, collections.Counter[str]],
    propagation: list[float],
) -> None:
    base = statistics.median(r.p99_ms for r in results["none"])
    print(
        f"primary service time {service_ms:g} ms: {args.connections} connections, "
        f"{args.seconds:g} s x {args.rounds} rounds (median round)"
    )
    print(
        f"{'mirror':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p99 delta':>11}"
        f"{'errors':>8}{'requests':>10}   mirror outcomes (warm-up and drain included)"
    )
    labels = {"none": "none", "slow": "sleeps 5 s", "fail": "returns 500"}
    for case, runs in results.items():
        p99 = statistics.median(r.p99_ms for r in runs)
        seen = outcomes.get(ROUTES[case], collections.Counter())
        summary = ", ".join(f"{k} {v}" for k, v in sorted(seen.items())) or "-"
        print(
            f"{labels[case]:<12}{statistics.median(r.rps for r in runs):>9.0f}"
            f"{statistics.median(r.p50_ms for r in runs):>9.2f}{p99:>9.2f}"
            f"{(p99 - base) / base * 100:>10.1f}%{sum(r.errors for r in runs):>8}"
            f"{sum(r.requests for r in runs):>10}   {summary}"
        )
    print(
        f"route change -> first request on the new backend, {len(propagation)} changes: "
        f"p50 {statistics.median(propagation) * 1000:.1f} ms, "
        f"p99 {_percentile(propagation, 0.99) * 1000:.1f} ms, "
        f"max {max(propagation) * 1000:.1f} ms"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per case")
    parser.add_argument("--changes", type=int, default=20, help="route changes to time")
    parser.add_argument(
        "--service-ms",
        default="0,10",
        help="primary replica's own latency in ms; a comma-separated list runs each",
    )
    args = parser.parse_args()
    for service_ms in (float(x) for x in args.service_ms.split(",")):
        _run_case(args, service_ms)


if __name__ == "__main__":
    main()
