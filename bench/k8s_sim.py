"""10,000 endpoints on Kubernetes, 8 gateways: route lookups, the autoscaler, control-plane memory.

    .venv/bin/python -m bench.k8s_sim [--endpoints 10000] [--gateways 8] [--lookups 200000]

No cluster: the parts that grow with the number of endpoints run for real, on
simulated inputs shaped like a cluster's.

- **route table** (``gateway/core/table.py``): the snapshot the control plane would
  publish (built by ``control/routing.build_snapshot``: a version route, ``latest``
  and a 90/10 alias per deployment, 2 ready pod IPs per endpoint), indexed once per
  gateway; lookups of random request paths per gateway, time per lookup.
- **autoscaler** (``control/autoscale.py``): one reconciler pass of ``autoscale`` over
  every endpoint, fed by ``control/traffic.TrafficBook`` with one report per gateway
  per second for a minute (in flight per endpoint spread over the 8 gateways).
- **observe** (``runtimes/kubernetes/observe.py``): Deployments, Pods and
  EndpointSlices as the watches would cache them -> replica statuses, per pass.
- **memory**: tracemalloc peak of the control plane's share (watch cache, replica
  statuses, traffic book, autoscaler states, the snapshot) and of one gateway's table.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from waypost.control.autoscale import AutoscaleConfig, AutoscaleState, autoscale
from waypost.control.routing import AliasInput, EndpointInput, build_snapshot
from waypost.control.traffic import TrafficBook
from waypost.gateway.core.table import RouteTable
from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy, Backend, Target
from waypost.model.prefix import UnitKey
from waypost.model.report import GatewayReport, TargetLoad
from waypost.model.routes import ReplicaAddress
from waypost.runtimes.kubernetes.naming import ANNOTATION_KEY, object_name, unit_labels
from waypost.runtimes.kubernetes.observe import replica_statuses


def units(count: int) -> list[UnitKey]:
    """Two versions of count/2 deployments over 50 projects, one endpoint each."""
    deployments = max(1, count // 2)
    return [
        UnitKey(f"org{d % 10}", f"proj{d % 50}", f"dep{d}", version, "predict")
        for d in range(deployments)
        for version in (1, 2)
    ][:count]


def snapshot_inputs(keys: list[UnitKey]) -> tuple[list[EndpointInput], list[AliasInput]]:
    endpoints = [
        EndpointInput(
            k.org, k.project, k.deployment, k.version, k.endpoint, EndpointState.RUNNING, True,
            "public", False,
            tuple(ReplicaAddress(f"{object_name(k)}-{i}", f"10.{i}.{n // 250 % 250}.{n % 250}:8000")
                  for i in range(2)),
        )
        for n, k in enumerate(keys)
    ]  # fmt: skip
    policy = AliasPolicy(
        backends=(Backend("stable", Target(None, 1), 90), Backend("canary", Target(None, 2), 10))
    )
    aliases = [
        AliasInput(k.org, k.project, k.deployment, "production", policy)
        for k in keys
        if k.version == 1
    ]
    return endpoints, aliases


def cluster_objects(keys: list[UnitKey]) -> tuple[list[Any], list[Any], list[Any]]:
    deployments, pods, slices = [], [], []
    for n, key in enumerate(keys):
        name = object_name(key)
        meta = {"labels": unit_labels(key), "annotations": {ANNOTATION_KEY: key.id}}
        deployments.append({"metadata": {"name": name, **meta}, "spec": {"replicas": 2},
                            "status": {"conditions": []}})  # fmt: skip
        endpoints = []
        for i in range(2):
            pod = f"{name}-7d9f8-{i}"
            ip = f"10.{i}.{n // 250 % 250}.{n % 250}"
            pods.append({
                "metadata": {"name": pod, "uid": f"{n}-{i}", **meta,
                             "creationTimestamp": "2025-01-01T00:00:00Z"},
                "status": {"phase": "Running", "podIP": ip,
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                                  "state": {"running": {
                                                      "startedAt": "2025-01-01T00:00:05Z"}}}]},
            })  # fmt: skip
            endpoints.append({"addresses": [ip], "conditions": {"ready": True},
                              "targetRef": {"kind": "Pod", "name": pod}})  # fmt: skip
        slices.append({
            "metadata": {"name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8000}],
        })  # fmt: skip
    return deployments, pods, slices


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure_memory(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    result = fn()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current, result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.k8s_sim")
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--gateways", type=int, default=8)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(7)
    keys = units(args.endpoints)
    endpoints, aliases = snapshot_inputs(keys)
    rows: list[tuple[str, str]] = []

    build_s, snapshot = timed(lambda: build_snapshot(1, endpoints, aliases), repeat=1)
    rows.append(("snapshot build (control plane)", f"{build_s * 1000:.0f} ms, "
                 f"{len(snapshot.routes)} routes, {len(snapshot.targets)} targets"))  # fmt: skip
    table_mem, _table = measure_memory(lambda: RouteTable.from_snapshot(snapshot))
    index_s, _ = timed(lambda: RouteTable.from_snapshot(snapshot))
    rows.append(("route table index (per gateway)", f"{index_s * 1000:.0f} ms, "
                 f"{table_mem / 2**20:.1f} MiB each, {args.gateways * table_mem / 2**20:.0f} MiB "
                 f"for {args.gateways}"))  # fmt: skip
    paths = []
    for _ in range(4096):
        k = rng.choice(keys)
        selector = rng.choice([str(k.version), "latest", "production"])
        paths.append(f"/{k.org}/{k.project}/{k.deployment}/{selector}/{k.endpoint}/v1/predict")
    tables = [RouteTable.from_snapshot(snapshot) for _ in range(args.gateways)]
    per_gateway = args.lookups // args.gateways
    latencies = []
    misses = 0
    for g, gateway_table in enumerate(tables):
        start = time.perf_counter()
        for i in range(per_gateway):
            if gateway_table.match(paths[(i + g) % len(paths)]) is None:
                misses += 1
        latencies.append((time.perf_counter() - start) / per_gateway)
    median = statistics.median(latencies) * 1e6
    rows.append(("route lookup (match, per request)", f"median {median:.2f} µs, "
                 f"worst gateway {max(latencies) * 1e6:.2f} µs, {misses} misses"))  # fmt: skip

    ids = [k.id for k in keys]
    now = 1_700_000_000.0

    def feed() -> TrafficBook:
        """A minute of reports: one per gateway per second, every endpoint in each."""
        book = TrafficBook()
        for second in range(60):
            at = now - 60 + second
            for g in range(args.gateways):
                loads = tuple(
                    TargetLoad(key, in_flight=(n + second + g) % 7, requests=3, errors=0,
                               latency_ms_sum=30.0)
                    for n, key in enumerate(ids)
                )  # fmt: skip
                book.add(GatewayReport(f"gw-{g}", at, 1.0, loads), at)
        return book

    def control_plane() -> tuple[Any, ...]:
        cache = cluster_objects(keys)
        statuses = replica_statuses(*cache, set())
        scaling = {key: AutoscaleState(replicas=2) for key in ids}
        snap = build_snapshot(2, endpoints, aliases)
        return cache, statuses, feed(), scaling, snap

    cp_mem, (cache, _statuses, book, states, _snap) = measure_memory(control_plane)
    config = AutoscaleConfig(target=5.0, min_replicas=1, max_replicas=5)

    def autoscale_pass() -> dict[str, AutoscaleState]:
        out = {}
        for key in ids:
            _count, out[key] = autoscale(config, book.samples(key, now), states[key], now)
        return out

    pass_s, _ = timed(autoscale_pass)
    each = pass_s / len(ids) * 1e6
    rows.append(
        ("autoscaler pass (all endpoints)",
         f"{pass_s * 1000:.0f} ms ({each:.1f} µs each; {args.gateways} gateways x 60 s of samples)")
    )  # fmt: skip
    observe_s, seen = timed(lambda: replica_statuses(*cache, set()))
    ready = sum(len(v) for v in seen.values())
    rows.append(("observe pass (k8s cache -> replicas)", f"{observe_s * 1000:.0f} ms, "
                 f"{ready} replicas of {len(seen)} endpoints"))  # fmt: skip
    rows.append(("control plane memory (tracemalloc)", f"{cp_mem / 2**20:.0f} MiB for "
                 f"{len(keys)} endpoints ({cp_mem / len(keys) / 1024:.1f} KiB each: watch cache, "
                 "replicas, traffic, autoscaler, snapshot)"))  # fmt: skip

    width = max(len(name) for name, _ in rows)
    print(f"{len(keys)} endpoints, {args.gateways} gateways, {args.lookups} lookups")
    print(f"{'measure'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 60}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
