"""build_snapshot(): version routes, `latest`, aliases and Modelbit alias files."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from waypost.control.routing import (
    AliasInput,
    EndpointInput,
    build_snapshot,
    latest_versions,
    token_grants,
)
from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy, Backend, Mirror, Target
from waypost.model.routes import ReplicaAddress, RouteSnapshot, TokenGrant
from waypost.model.spec import Traffic

S = EndpointState


def ep(
    deployment: str, version: int, name: str = "web", *, state: S = S.RUNNING, ever: bool = True
) -> EndpointInput:
    ready = (
        (ReplicaAddress(f"r-{version}", f"127.0.0.1:{4000 + version}"),)
        if state is S.RUNNING
        else ()
    )
    return EndpointInput(
        "acme", "shop", deployment, version, name, state, ever, "public", False, ready
    )


def routes_by_url(snapshot: RouteSnapshot) -> dict[str, list[tuple[str, int, str]]]:
    return {
        r.prefix_header: [(b.name, b.weight, b.target) for b in r.backends] for r in snapshot.routes
    }


def test_every_version_has_its_route_and_latest_is_highest_ever_running() -> None:
    endpoints = [ep("hello", 1), ep("hello", 2), ep("hello", 3, state=S.BUILDING, ever=False)]
    snapshot = build_snapshot(7, endpoints)
    routes = routes_by_url(snapshot)
    assert routes["acme/shop/hello/1/web"] == [("v1", 1, "acme/shop/hello/1/web")]
    assert routes["acme/shop/hello/3/web"] == [("v3", 1, "acme/shop/hello/3/web")]
    assert routes["acme/shop/hello/latest/web"] == [("v2", 1, "acme/shop/hello/2/web")]
    assert snapshot.revision == 7
    targets = {t.key: t for t in snapshot.targets}
    assert targets["acme/shop/hello/3/web"].replicas == ()
    assert targets["acme/shop/hello/2/web"].replicas[0].address == "127.0.0.1:4002"


def test_no_latest_until_a_version_has_run() -> None:
    snapshot = build_snapshot(1, [ep("hello", 1, state=S.BUILDING, ever=False)])
    assert "acme/shop/hello/latest/web" not in routes_by_url(snapshot)
    assert latest_versions([ep("hello", 1, ever=False)]) == {}


def test_alias_on_a_deployment_with_split_and_mirror() -> None:
    policy = AliasPolicy(
        backends=(Backend("a", Target(None, 1), 9), Backend("b", Target(None, "latest"), 1)),
        mirrors=(Mirror("shadow", Target("candidate", "latest")),),
    )
    endpoints = [ep("hello", 1), ep("hello", 2), ep("candidate", 1)]
    snapshot = build_snapshot(3, endpoints, [AliasInput("acme", "shop", "hello", "prod", policy)])
    route = next(r for r in snapshot.routes if r.prefix_header == "acme/shop/hello/prod/web")
    assert [(b.name, b.weight, b.target) for b in route.backends] == [
        ("a", 9, "acme/shop/hello/1/web"),
        ("b", 1, "acme/shop/hello/2/web"),
    ]
    assert [(m.name, m.target) for m in route.mirrors] == [("shadow", "acme/shop/candidate/1/web")]


def test_modelbit_alias_file_takes_the_deployment_place_and_may_omit_endpoint() -> None:
    policy = AliasPolicy(backends=(Backend("split_1", Target("hello", 2), 1),))
    snapshot = build_snapshot(
        1, [ep("hello", 2)], [AliasInput("acme", "shop", None, "example_alias", policy)]
    )
    routes = routes_by_url(snapshot)
    assert routes["acme/shop/example_alias/latest/web"] == [("split_1", 1, "acme/shop/hello/2/web")]
    assert routes["acme/shop/example_alias/latest"] == [("split_1", 1, "acme/shop/hello/2/web")]


def test_alias_to_missing_version_yields_no_route() -> None:
    policy = AliasPolicy(backends=(Backend("x", Target(None, 9), 1),))
    snapshot = build_snapshot(
        1, [ep("hello", 1)], [AliasInput("acme", "shop", "hello", "prod", policy)]
    )
    assert not any(r.selector == "prod" for r in snapshot.routes)


def test_snapshot_json_round_trip() -> None:
    grants = [
        TokenGrant("h1", "invoke", "acme/shop", 1_767_225_600.5),
        TokenGrant("h2", "admin", None, None),
    ]
    snapshot = build_snapshot(5, [ep("hello", 1), ep("hello", 2, "api")], grants=grants)
    assert snapshot.grants == tuple(grants)
    assert RouteSnapshot.from_json(snapshot.to_json()) == snapshot


def test_a_snapshot_without_grants_reads_as_none() -> None:
    wire = build_snapshot(1, [ep("hello", 1)]).to_json()
    del wire["grants"]  # from a control plane that predates them
    assert RouteSnapshot.from_json(wire).grants == ()


@dataclass(frozen=True)
class Tok:
    token_hash: str
    scope: str
    project: str | None = None
    expires_at: datetime | None = None
    revoked: bool = False


def test_grants_are_the_live_tokens_that_may_invoke() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    tokens = [
        Tok("h-admin", "admin"),
        Tok("h-deploy", "deploy", "acme/shop"),
        Tok("h-invoke", "invoke", "acme/shop/hello/1/web", expires),
        Tok("h-read", "read"),
        Tok("h-gateway", "gateway"),
        Tok("h-revoked", "invoke", revoked=True),
    ]
    assert token_grants(tokens) == (
        TokenGrant("h-admin", "admin", None, None),
        TokenGrant("h-deploy", "deploy", "acme/shop", None),
        TokenGrant("h-invoke", "invoke", "acme/shop/hello/1/web", expires.timestamp()),
    )


def test_each_target_carries_its_endpoints_traffic_settings() -> None:
    traffic = Traffic(
        timeout=2.5,
        connect_timeout=0.5,
        max_concurrency=8,
        queue=3,
        queue_timeout=1.0,
        retry_non_idempotent=True,
    )
    capped = replace(ep("hello", 1), traffic=traffic)
    snapshot = build_snapshot(1, [capped, ep("hello", 2, "api")])

    first, second = snapshot.targets
    assert (first.timeout, first.connect_timeout, first.max_concurrency) == (2.5, 0.5, 8)
    assert (first.queue_size, first.queue_timeout, first.retry_non_idempotent) == (3, 1.0, True)
    assert (second.timeout, second.max_concurrency, second.queue_size) == (60.0, None, 100)
    assert RouteSnapshot.from_json(snapshot.to_json()) == snapshot
