"""Aliases and version routes as HTTPRoutes, checked against the HTTPRoute v1 schema subset
in tests/data/gateway-api (and the CRD's CEL rules that JSON Schema cannot say)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from waypost.control.routing import AliasInput, EndpointInput, build_snapshot
from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy, Backend, Mirror, Target
from waypost.model.prefix import UnitKey
from waypost.runtimes.kubernetes.gatewayapi import GatewayRef, http_routes
from waypost.runtimes.kubernetes.naming import object_name

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "data" / "gateway-api" / "httproute-v1.schema.json").read_text()
)
GW = GatewayRef("public", "infra", "http")


def cel_problems(route: dict[str, Any]) -> list[str]:
    """The HTTPRoute CRD's x-kubernetes-validations that apply to what waypost renders."""
    problems = []
    value_field = {
        "RequestHeaderModifier": "requestHeaderModifier",
        "RequestMirror": "requestMirror",
        "URLRewrite": "urlRewrite",
    }
    for rule in route["spec"]["rules"]:
        lists = [rule.get("filters", [])] + [b.get("filters", []) for b in rule["backendRefs"]]
        for filters in lists:
            for kind in ("RequestHeaderModifier", "URLRewrite"):
                if sum(f["type"] == kind for f in filters) > 1:
                    problems.append(f"{kind} filter cannot be repeated")
            for f in filters:
                present = {k for k in value_field.values() if k in f}
                if present != {value_field[f["type"]]}:
                    problems.append(f"filter {f['type']} must set only {value_field[f['type']]}")
                path = f.get("urlRewrite", {}).get("path", {})
                if path.get("type") == "ReplacePrefixMatch":
                    matches = rule.get("matches", [])
                    if len(matches) != 1 or matches[0]["path"]["type"] != "PathPrefix":
                        problems.append("ReplacePrefixMatch needs one PathPrefix match")
        for match in rule.get("matches", []):
            if not match["path"]["value"].startswith("/") or "//" in match["path"]["value"]:
                problems.append("path must be absolute, without //")
    return problems


def ep(deployment: str, version: int, name: str = "web", **kw: Any) -> EndpointInput:
    return EndpointInput(
        "acme",
        "shop",
        deployment,
        version,
        name,
        EndpointState.RUNNING,
        True,
        kw.get("visibility", "public"),
        kw.get("strip_prefix", False),
        (),
    )


def by_prefix(routes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["annotations"]["waypost.io/prefix"]: r for r in routes}


def render(endpoints: list[EndpointInput], aliases: list[AliasInput]) -> Any:
    return http_routes(build_snapshot(1, endpoints, aliases), namespace="apps", gateway=GW)


def test_versions_latest_and_a_split_with_mirror() -> None:
    policy = AliasPolicy(
        backends=(Backend("blue", Target(None, 1), 90), Backend("green", Target(None, 2), 10)),
        mirrors=(Mirror("shadow", Target("churn-next", 1)),),
    )
    rendered = render(
        [ep("churn", 1), ep("churn", 2), ep("churn-next", 1)],
        [AliasInput("acme", "shop", "churn", "production", policy)],
    )
    routes = by_prefix(rendered.routes)
    assert {
        "acme/shop/churn/1/web",
        "acme/shop/churn/latest/web",
        "acme/shop/churn/production/web",
        "acme/shop/churn/production",
    } <= set(routes)
    for route in rendered.routes:
        jsonschema.validate(route, SCHEMA)
        assert cel_problems(route) == []
    rule = routes["acme/shop/churn/production/web"]["spec"]["rules"][0]
    assert rule["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/acme/shop/churn/production/web"}}
    ]
    assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [
        (object_name(UnitKey("acme", "shop", "churn", 1, "web")), 90),
        (object_name(UnitKey("acme", "shop", "churn", 2, "web")), 10),
    ]
    header = rule["filters"][0]
    assert header["requestHeaderModifier"]["set"] == [
        {"name": "X-VH-Prefix", "value": "acme/shop/churn/production/web"}
    ]
    (mirror,) = [f for f in rule["filters"] if f["type"] == "RequestMirror"]
    assert mirror["requestMirror"]["backendRef"]["name"] == object_name(
        UnitKey("acme", "shop", "churn-next", 1, "web")
    )
    latest = routes["acme/shop/churn/latest/web"]["spec"]["rules"][0]
    assert latest["backendRefs"][0]["name"] == object_name(
        UnitKey("acme", "shop", "churn", 2, "web")
    )
    assert routes["acme/shop/churn/1/web"]["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "infra",
            "sectionName": "http",
        }
    ]


@pytest.mark.parametrize(
    ("strips", "on_rule", "on_refs"),
    [
        ((True, True), True, [False, False]),
        ((True, False), False, [True, False]),
        ((False, False), False, [False, False]),
    ],
)
def test_strip_prefix_rewrites(
    strips: tuple[bool, bool], on_rule: bool, on_refs: list[bool]
) -> None:
    policy = AliasPolicy(
        backends=(Backend("a", Target(None, 1), 1), Backend("b", Target(None, 2), 1))
    )
    rendered = render(
        [ep("churn", 1, strip_prefix=strips[0]), ep("churn", 2, strip_prefix=strips[1])],
        [AliasInput("acme", "shop", "churn", "ab", policy)],
    )
    rule = by_prefix(rendered.routes)["acme/shop/churn/ab/web"]["spec"]["rules"][0]
    assert any(f["type"] == "URLRewrite" for f in rule["filters"]) is on_rule
    assert ["filters" in ref for ref in rule["backendRefs"]] == on_refs
    for route in rendered.routes:
        jsonschema.validate(route, SCHEMA)
        assert cel_problems(route) == []


def test_private_and_sticky_routes_come_with_notes() -> None:
    sticky = AliasPolicy(backends=(Backend("a", Target(None, 1), 1),), sticky="header:X-User")
    rendered = render(
        [ep("churn", 1), ep("secret", 1, visibility="private")],
        [AliasInput("acme", "shop", "churn", "stable", sticky)],
    )
    assert not any("acme/shop/secret" in p for p in by_prefix(rendered.routes))
    assert any("private" in n and "acme/shop/secret/1/web" in n for n in rendered.notes)
    assert any("sticky" in n for n in rendered.notes)


def test_the_checks_catch_a_broken_route() -> None:
    (route, *_) = render([ep("churn", 1)], []).routes
    broken = json.loads(json.dumps(route))
    broken["spec"]["rules"][0]["filters"].append(dict(broken["spec"]["rules"][0]["filters"][0]))
    assert cel_problems(broken) == ["RequestHeaderModifier filter cannot be repeated"]
    broken["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
