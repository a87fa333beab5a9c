"""Metrics in multiprocess mode: two worker processes write to one directory and a
scrape in either adds them up. Each worker is a fresh interpreter, since
prometheus-client picks multiprocess mode when it is first imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROUTE = "acme/shop/churn/production/web"
TARGET = "acme/shop/churn/3/web"

#: argv: route, target, how many of the requests below, "scrape" or "exit".
WORKER = """
import sys

from waypost.gateway.metrics import Metrics

route, target, count, end = sys.argv[1:]
metrics = Metrics()
for status, seconds in [(200, 0.004), (200, 0.5), (503, 2.0)][: int(count)]:
    metrics.request("acme/shop", route, "control", target, status, seconds)
metrics.refresh({target: 1}, {}, 0.0)
# Tallied after the last flush: reaches the directory only if flushed again.
metrics.request("acme/shop", route, "control", target, 200, 0.004)
if end == "scrape":
    sys.stdout.write(metrics.render().decode())
"""


def worker(directory: Path, requests: int, end: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, ROUTE, TARGET, str(requests), end],
        env=os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_a_scrape_adds_up_the_workers_sharing_the_directory(tmp_path: Path) -> None:
    worker(tmp_path, 3, "exit")  # 3 requests flushed by refresh; the 4th never is
    text = worker(tmp_path, 1, "scrape")  # 1 flushed by refresh, the 2nd by render
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            key = labels.get("status_class") or labels.get("le") or labels.get("target", "")
            found[(sample.name, key)] = sample.value
    assert found[("waypost_gateway_requests_total", "2xx")] == 2 + 2
    assert found[("waypost_gateway_requests_total", "5xx")] == 1
    bucket = "waypost_gateway_request_duration_seconds_bucket"
    assert found[(bucket, "0.005")] == 3
    assert found[(bucket, "0.5")] == 4
    assert found[(bucket, "+Inf")] == 5
    total = found[("waypost_gateway_request_duration_seconds_sum", "")]
    assert total == pytest.approx(0.004 + 0.5 + 2.0 + 0.004 + 0.004)
    # Gauges set by refresh: the first worker's stays until it is marked dead.
    assert found[("waypost_gateway_in_flight", TARGET)] == 2
