"""RouteTable.match(): version, latest, alias and endpoint-less routes, segment boundaries."""

from __future__ import annotations

import pytest

from waypost.errors import BadRequest
from waypost.gateway.core.table import MATCH_CACHE_SIZE, RouteTable
from waypost.model.routes import (
    LogSink,
    ReplicaAddress,
    Route,
    RouteBackend,
    RouteMirror,
    RouteSnapshot,
    RouteTarget,
)


def target(key: str, *replicas: str) -> RouteTarget:
    return RouteTarget(
        key,
        "Running",
        "public",
        False,
        tuple(ReplicaAddress(f"r{i}", address) for i, address in enumerate(replicas)),
    )


def route(
    url: str, *backends: tuple[str, int, str], mirrors: tuple[RouteMirror, ...] = ()
) -> Route:
    parts = url.split("/")
    endpoint = parts[4] if len(parts) == 5 else None
    return Route(
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        endpoint,
        tuple(RouteBackend(n, w, t) for n, w, t in backends),
        mirrors,
    )


V1 = "acme/shop/hello/1/web"
V2 = "acme/shop/hello/2/web"
V2_API = "acme/shop/hello/2/api"
CHURN = "acme/shop/churn-model/1/predict"

SNAPSHOT = RouteSnapshot(
    revision=7,
    targets=(
        target(V1, "127.0.0.1:4001"),
        target(V2, "127.0.0.1:4002", "127.0.0.1:4003"),
        target(V2_API, "127.0.0.1:4004"),
        target(CHURN, "127.0.0.1:4005"),
    ),
    routes=(
        route(V1, ("v1", 1, V1)),
        route(V2, ("v2", 1, V2)),
        route(V2_API, ("v2", 1, V2_API)),
        route("acme/shop/hello/latest/web", ("v2", 1, V2)),
        route("acme/shop/hello/latest/api", ("v2", 1, V2_API)),
        route(
            "acme/shop/hello/production/web",
            ("stable", 9, V1),
            ("canary", 1, V2),
            mirrors=(RouteMirror("shadow", V2),),
        ),
        route("acme/shop/churn/latest/predict", ("main", 1, CHURN)),
        route("acme/shop/churn/latest", ("main", 1, CHURN)),
    ),
)

TABLE = RouteTable.from_snapshot(SNAPSHOT)


@pytest.mark.parametrize(
    ("path", "prefix", "rest", "backend_targets"),
    [
        pytest.param("/acme/shop/hello/1/web/predict", V1, "/predict", [V1], id="version"),
        pytest.param("/acme/shop/hello/1/web", V1, "", [V1], id="no-trailing-slash"),
        pytest.param("/acme/shop/hello/1/web/", V1, "/", [V1], id="trailing-slash"),
        pytest.param(
            "/acme/shop/hello/latest/web/a/b",
            "acme/shop/hello/latest/web",
            "/a/b",
            [V2],
            id="latest",
        ),
        pytest.param(
            "/acme/shop/hello/latest/api/x",
            "acme/shop/hello/latest/api",
            "/x",
            [V2_API],
            id="latest-other-endpoint",
        ),
        pytest.param(
            "/acme/shop/hello/production/web/predict",
            "acme/shop/hello/production/web",
            "/predict",
            [V1, V2],
            id="alias",
        ),
        pytest.param(
            "/acme/shop/churn/latest/predict/x",
            "acme/shop/churn/latest/predict",
            "/x",
            [CHURN],
            id="alias-file-with-endpoint",
        ),
        pytest.param(
            "/acme/shop/churn/latest/score",
            "acme/shop/churn/latest",
            "/score",
            [CHURN],
            id="alias-file-endpoint-less",
        ),
        pytest.param(
            "/acme/shop/churn/latest",
            "acme/shop/churn/latest",
            "",
            [CHURN],
            id="endpoint-less-bare",
        ),
        pytest.param(
            "/acme/shop/churn/latest/",
            "acme/shop/churn/latest",
            "/",
            [CHURN],
            id="endpoint-less-slash",
        ),
        pytest.param(
            "/acme/shop/churn/latest//x",
            "acme/shop/churn/latest",
            "//x",
            [CHURN],
            id="endpoint-less-rest-may-have-empty-segment",
        ),
        pytest.param(
            "/acme/shop/hello/1/web//x//y", V1, "//x//y", [V1], id="rest-is-the-app's-business"
        ),
        pytest.param("/acme/shop/hello/1/web/%2F..x", V1, "/%2F..x", [V1], id="rest-kept-raw"),
    ],
)
def test_match(path: str, prefix: str, rest: str, backend_targets: list[str]) -> None:
    found = TABLE.match(path)
    assert found is not None
    assert found.prefix == prefix
    assert found.rest == rest
    assert [b.target for b in found.route.backends] == backend_targets
    for key in backend_targets:
        matched = found.target(key)
        assert matched is not None
        assert matched.replicas


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/acme/shop/hello/1/webx", id="segment-boundary-endpoint"),
        pytest.param("/acme/shop/hello/1/webx/predict", id="segment-boundary-endpoint-rest"),
        pytest.param("/acme/shop/hello/11/web", id="segment-boundary-version"),
        pytest.param("/acme/shop/hellox/1/web", id="segment-boundary-deployment"),
        pytest.param("/acme/shop/hello/1", id="version-route-needs-endpoint"),
        pytest.param("/acme/shop/hello/1/", id="version-route-trailing-slash-only"),
        pytest.param("/acme/shop/hello/3/web", id="unknown-version"),
        pytest.param("/acme/shop/hello/staging/web", id="unknown-alias"),
        pytest.param("/ACME/shop/hello/1/web", id="case-sensitive"),
        pytest.param("/%61cme/shop/hello/1/web", id="encoded-letters-not-decoded"),
        pytest.param("/acme/shop/hello", id="too-short"),
        pytest.param("/", id="root"),
        pytest.param("/acme/shop/churn", id="alias-file-too-short"),
    ],
)
def test_no_match(path: str) -> None:
    assert TABLE.match(path) is None


def test_mirrors_and_their_targets_are_in_the_match() -> None:
    found = TABLE.match("/acme/shop/hello/production/web/")
    assert found is not None
    assert [m.name for m in found.route.mirrors] == ["shadow"]
    assert set(found.targets) == {V1, V2}


def test_table_counts_routes_and_keeps_revision() -> None:
    assert len(TABLE) == len(SNAPSHOT.routes)
    assert TABLE.revision == 7
    assert set(TABLE.targets) == {V1, V2, V2_API, CHURN}


def test_empty_table_matches_nothing() -> None:
    empty = RouteTable.empty()
    assert empty.match("/acme/shop/hello/1/web") is None
    assert len(empty) == 0
    assert empty.revision == -1


def test_backend_without_target_has_no_target_in_match() -> None:
    snapshot = RouteSnapshot(1, (), (route("a/b/c/1/web", ("v1", 1, "a/b/c/1/web")),))
    found = RouteTable.from_snapshot(snapshot).match("/a/b/c/1/web/")
    assert found is not None
    assert found.target("a/b/c/1/web") is None


def test_snapshot_wire_format_round_trips_into_a_table() -> None:
    table = RouteTable.from_snapshot(RouteSnapshot.from_json(SNAPSHOT.to_json()))
    found = table.match("/acme/shop/churn/latest/x")
    assert found is not None
    assert found.prefix == "acme/shop/churn/latest"


def test_many_routes_are_indexed_by_segments() -> None:
    """Thousands of routes: a match (or a miss) is a lookup by segment tuple, not a scan."""
    routes = tuple(route(f"org{i}/p/d/1/web", ("v1", 1, f"org{i}/p/d/1/web")) for i in range(5000))
    table = RouteTable.from_snapshot(RouteSnapshot(1, (), routes))
    assert table.match("/org4999/p/d/1/web/x") is not None
    assert table.match("/org5000/p/d/1/web/x") is None


def test_the_table_carries_the_snapshot_log_sinks() -> None:
    sinks = (LogSink("acme/shop", "http://127.0.0.1:9/logs"),)
    snapshot = RouteSnapshot(8, SNAPSHOT.targets, SNAPSHOT.routes, sinks)
    assert RouteTable.from_snapshot(snapshot).log_sinks == sinks
    assert RouteTable.from_snapshot(SNAPSHOT).log_sinks == ()
    assert RouteTable.empty().log_sinks == ()


def test_a_repeated_path_is_matched_once_and_malformed_ones_are_never_kept() -> None:
    table = RouteTable.from_snapshot(SNAPSHOT)
    first = table.match("/acme/shop/hello/1/web/x")
    assert first is not None
    assert table.match("/acme/shop/hello/1/web/x") is first
    assert table.match("/acme/shop/hello/3/web") is None  # a miss is kept too, and stays one
    assert table.match("/acme/shop/hello/3/web") is None
    for _ in range(2):  # refused every time, never cached as a miss
        with pytest.raises(BadRequest):
            table.match("/acme/shop/hello/../1/web")


def test_the_match_cache_forgets_everything_once_full() -> None:
    table = RouteTable.from_snapshot(SNAPSHOT)
    for n in range(MATCH_CACHE_SIZE + 10):
        found = table.match(f"/acme/shop/hello/1/web/{n}")
        assert found is not None
        assert found.rest == f"/{n}"
    assert len(table._cache) <= MATCH_CACHE_SIZE
