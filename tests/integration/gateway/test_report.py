"""The traffic report a real gateway sends its control plane every second."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.gateway.conftest import Env, GatewayFactory
from tests.integration.gateway.support import GatewayProcess, build_snapshot
from waypost.model.report import GatewayReport

V1 = "acme/shop/hello/1/web"
V2 = "acme/shop/hello/2/web"
AB = "acme/shop/hello/ab/web"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def reports_of(env: Env, gateway: GatewayProcess) -> list[GatewayReport]:
    return [r for r in env.control.report_list() if r.gateway.endswith(f"/{gateway.pid}")]


def totals(reports: list[GatewayReport]) -> dict[tuple[str, str], int]:
    """(kind:name or target, measure) -> sum over reports."""
    sums: dict[tuple[str, str], int] = {}
    for report in reports:
        for t in report.targets:
            for measure in ("requests", "errors"):
                key = (t.key, measure)
                sums[key] = sums.get(key, 0) + getattr(t, measure)
        for b in report.backends:
            for measure in ("requests", "errors", "dropped"):
                key = (f"{b.route}:{b.kind}:{b.name}:{b.target}", measure)
                sums[key] = sums.get(key, 0) + getattr(b, measure)
    return sums


@pytest.fixture
def split(env: Env) -> Iterator[Env]:
    env.publish(
        build_snapshot(
            {AB: [("stable", 1, V1), ("canary", 1, V2)]},
            {V1: [env.a.address], V2: [env.b.address]},
            mirrors={AB: [("shadow", V1)]},
        )
    )
    yield env
    env.b.status = None
    env.control.report_status = 204


def test_reports_carry_every_request_once(split: Env, start_gateway: GatewayFactory) -> None:
    env = split
    gateway = start_gateway()
    gateway.wait_revision(env.control.snapshot.revision)
    env.b.status = 500  # the canary fails: its requests are errors
    statuses = {200: 0, 500: 0}
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        for _ in range(40):
            statuses[client.get(f"/{AB}/").status_code] += 1
    assert statuses[200]
    assert statuses[500]
    route = f"{AB}:backend"

    def all_counted() -> bool:
        sums = totals(reports_of(env, gateway))
        return (
            sums.get((f"{route}:stable:{V1}", "requests")) == statuses[200]
            and sums.get((f"{route}:canary:{V2}", "requests")) == statuses[500]
            and sums.get((f"{AB}:mirror:shadow:{V1}", "requests")) == 40
        )

    wait_until(all_counted, 5, "every request in the reports")
    sums = totals(reports_of(env, gateway))
    assert sums[(f"{route}:canary:{V2}", "errors")] == statuses[500]
    assert sums[(f"{route}:stable:{V1}", "errors")] == 0
    # V1 served the stable backend and every mirror copy; V2 the canary.
    assert sums[(V1, "requests")] == statuses[200] + 40
    assert sums[(V2, "requests")] == sums[(V2, "errors")] == statuses[500]
    reports = reports_of(env, gateway)
    # The gateway id is the one its route sync polls with; a report about every second.
    assert {r.gateway for r in reports} <= env.control.poll_gateways
    assert all(0.0 <= r.interval < 2.0 for r in reports[1:])
    # Nothing in flight at the end: the last report says 0.
    wait_until(
        lambda: all(t.in_flight == 0 for t in reports_of(env, gateway)[-1].targets),
        3,
        "in flight back to 0",
    )


def test_counts_survive_a_control_plane_refusing_reports(
    split: Env, start_gateway: GatewayFactory
) -> None:
    env = split
    gateway = start_gateway()
    gateway.wait_revision(env.control.snapshot.revision)
    env.control.report_status = 500
    refused_before = env.control.refused_reports
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        for _ in range(30):
            assert client.get(f"/{AB}/").status_code == 200
    wait_until(lambda: env.control.refused_reports >= refused_before + 2, 5, "two refused")
    env.control.report_status = 204

    def counted() -> int:
        sums = totals(reports_of(env, gateway))
        return sums.get((f"{AB}:backend:stable:{V1}", "requests"), 0) + sums.get(
            (f"{AB}:backend:canary:{V2}", "requests"), 0
        )

    wait_until(lambda: counted() == 30, 5, "the kept counts delivered")
    assert gateway.stderr().count("traffic report: the control plane answered 500") == 1
    assert "traffic report: delivered again" in gateway.stderr()
