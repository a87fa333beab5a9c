"""Alias stats and views: live counts summed over an alias's routes, the JSON shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from waypost.control import views
from waypost.control.alias_facts import ProjectFacts, alias_prefix, alias_stats
from waypost.control.aliases import AliasView
from waypost.control.traffic import BackendStats, TrafficBook
from waypost.model.policy import AliasPolicy, Backend, Mirror, Target
from waypost.model.report import BackendCount, GatewayReport
from waypost.store import AliasRecord, EventRecord

AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
FACTS = ProjectFacts(
    "acme/shop",
    versions={
        "churn": {1: frozenset({"web"}), 2: frozenset({"web", "api"}), 3: frozenset({"web"})},
        "cand": {1: frozenset({"web"})},
    },
    latest={"churn": 1},
)
SPLIT = AliasPolicy(
    backends=(Backend("v3", Target(None, 3), 90), Backend("latest", Target(None, "latest"), 10)),
    mirrors=(Mirror("cand-v1", Target("cand", 1)),),
    sticky="header:X-User-ID",
)


def record(policy: AliasPolicy = SPLIT, deployment: str | None = "churn") -> AliasRecord:
    return AliasRecord("acme", "shop", deployment, "production", policy, AT)


def count(route: str, name: str, requests: int, errors: int = 0, **kw: Any) -> BackendCount:
    kind = kw.pop("kind", "backend")
    return BackendCount(route, name, kind, "some/target", requests, errors, **kw)


@pytest.mark.parametrize(
    ("target", "own", "key"),
    [
        pytest.param(Target(None, 3), "churn", "acme/shop/churn/3/web", id="one-endpoint"),
        pytest.param(Target(None, 2), "churn", "acme/shop/churn/2", id="several-endpoints"),
        pytest.param(Target(None, 2, "api"), "churn", "acme/shop/churn/2/api", id="endpoint"),
        pytest.param(Target(None, 2, "nope"), "churn", None, id="missing-endpoint"),
        pytest.param(Target(None, "latest"), "churn", "acme/shop/churn/1/web", id="latest"),
        pytest.param(Target("cand", "latest"), "churn", None, id="latest-never-ran"),
        pytest.param(Target(None, 9), "churn", None, id="missing-version"),
        pytest.param(Target("ghost", 1), "churn", None, id="missing-deployment"),
        pytest.param(Target(None, 1), None, None, id="file-alias-without-deployment"),
    ],
)
def test_targets_resolve_to_the_key_they_route_to_now(
    target: Target, own: str | None, key: str | None
) -> None:
    assert FACTS.resolve(target, own) == key


def test_prefixes() -> None:
    assert alias_prefix("acme", "shop", "churn", "production") == "acme/shop/churn/production"
    assert alias_prefix("acme", "shop", None, "ab") == "acme/shop/ab/latest"


def test_stats_add_up_every_route_of_the_alias_and_nothing_else() -> None:
    book = TrafficBook(window=60)
    base = "acme/shop/churn/production"
    report = GatewayReport(
        gateway="gw",
        at=1000.0,
        interval=1.0,
        backends=(
            count(base + "/web", "v3", 30, 3),
            count(base, "v3", 10),  # the endpoint-less route
            count(base + "/api", "latest", 4, 1),
            count(base + "/web", "cand-v1", 44, 2, kind="mirror", dropped=5),
            count("acme/shop/churn/staging/web", "v3", 1000),  # another alias
            count("acme/shop/churn/production-x/web", "v3", 1000),  # not a segment boundary
        ),
    )
    book.add(report, now=1000.0)

    live = alias_stats(record(), FACTS, book, now=1010.0)

    assert [(b.name, b.weight, b.share, b.target, b.requests, b.errors) for b in live.backends] == [
        ("v3", 90, 0.9, "acme/shop/churn/3/web", 40, 3),
        ("latest", 10, 0.1, "acme/shop/churn/1/web", 4, 1),
    ]
    assert live.backends[0].error_rate == 3 / 40
    [mirror] = live.mirrors
    assert (mirror.name, mirror.target, mirror.requests, mirror.errors, mirror.dropped) == (
        "cand-v1",
        "acme/shop/cand/1/web",
        44,
        2,
        5,
    )
    # A minute later the window has moved past the report.
    assert alias_stats(record(), FACTS, book, now=1061.0).backends[0].requests == 0


def test_stats_of_an_alias_file_use_its_latest_prefix() -> None:
    class Source:
        def backend_stats(self, route: str, kind: str, name: str, now: float) -> BackendStats:
            hits = {"acme/shop/production/latest": 7, "acme/shop/production/latest/web": 5}
            return BackendStats(hits.get(route, 0), 0, 0)

    policy = AliasPolicy(backends=(Backend("split_1", Target("churn", 3)),))
    live = alias_stats(record(policy, deployment=None), FACTS, Source(), now=0)
    assert [(b.requests, b.share, b.error_rate) for b in live.backends] == [(12, 1.0, 0.0)]


def test_alias_json_shape() -> None:
    live = alias_stats(record(), FACTS, TrafficBook(), now=0)
    body = views.alias_json(AliasView(record(), live), "http://gw:8080")
    assert body == {
        "project": "acme/shop",
        "name": "production",
        "deployment": "churn",
        "prefix": "acme/shop/churn/production",
        "url": "http://gw:8080/acme/shop/churn/production/",
        "policy": SPLIT.to_json(),
        "updated_at": "2025-01-01T12:00:00+00:00",
        "stats": {
            "backends": [
                {
                    "name": "v3",
                    "weight": 90,
                    "share": 0.9,
                    "target": "acme/shop/churn/3/web",
                    "requests_1m": 0,
                    "errors_1m": 0,
                    "error_rate": 0.0,
                },
                {
                    "name": "latest",
                    "weight": 10,
                    "share": 0.1,
                    "target": "acme/shop/churn/1/web",
                    "requests_1m": 0,
                    "errors_1m": 0,
                    "error_rate": 0.0,
                },
            ],
            "mirrors": [
                {
                    "name": "cand-v1",
                    "target": "acme/shop/cand/1/web",
                    "requests_1m": 0,
                    "errors_1m": 0,
                    "dropped_1m": 0,
                }
            ],
        },
    }
    file_alias = AliasView(record(deployment=None), live)
    assert (
        views.alias_json(file_alias, "http://gw")["url"] == "http://gw/acme/shop/production/latest/"
    )


def event(reason: str) -> EventRecord:
    return EventRecord(
        7, AT, "alias", "acme", "shop", "churn", None, None, None, None, reason, "bob", "production"
    )


@pytest.mark.parametrize(
    ("reason", "old", "new"),
    [
        pytest.param('alias p: none → {"a": 1}', None, {"a": 1}, id="created"),
        pytest.param('alias p: {"a": 1} → {"a": "\\u2192"}', {"a": 1}, {"a": "→"}, id="changed"),
        pytest.param('alias p: {"a": 1} → none', {"a": 1}, None, id="deleted"),
        pytest.param("something else", None, None, id="not-an-alias-reason"),
        pytest.param("alias p: {broken → none", None, None, id="bad-json"),
    ],
)
def test_alias_event_json_reads_old_and_new_policy(reason: str, old: Any, new: Any) -> None:
    body = views.alias_event_json(event(reason))
    assert (body["old"], body["new"]) == (old, new)
    assert body["actor"] == "bob"
    assert body["at"] == "2025-01-01T12:00:00+00:00"
    assert (body["deployment"], body["alias"], body["reason"]) == ("churn", "production", reason)
