"""Aliases, apply and log sinks through the API in-process (ASGI) over a real SQLite store."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.unit.config._support import SEED_AB, SEED_ALIAS, SEED_MIRROR
from waypost.cli.apply import aliases_from_path, apply_body
from waypost.cli.main import app
from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.routing import AliasInput, EndpointInput, build_snapshot
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.model.lifecycle import EndpointState
from waypost.model.prefix import UnitKey
from waypost.model.report import BackendCount, GatewayReport
from waypost.model.routes import LogSink, RouteSnapshot
from waypost.settings import Settings
from waypost.store import Store

from .serving import serving
from .test_api import FakeRuntime, bundle

ALICE = {"Authorization": "Bearer wp_alice"}
BOB = {"Authorization": "Bearer wp_bob"}
BASE = "/api/v1/projects/acme/shop"


@dataclass
class Env:
    api: httpx.AsyncClient
    service: ControlService
    store: Store

    async def deploy(self, deployment: str, endpoints: Sequence[str] = ("web",)) -> int:
        """A new version of ``deployment``, its endpoints marked Running (no runtime here)."""
        listed = ", ".join(f"{{name: {e}, wsgi: 'app:app'}}" for e in endpoints)
        files = {
            "waypost.yaml": f"project: acme/shop\ndeployment: {deployment}\n"
            f"endpoints: [{listed}]\n",
            "app.py": "app = None\n",
        }
        created = await self.api.post(
            f"{BASE}/deployments/{deployment}/versions",
            files={"bundle": ("b.tar.gz", bundle(files), "application/gzip")},
            headers=ALICE,
        )
        assert created.status_code == 201, created.text
        version = int(created.json()["version"])
        for record in self.store.list_endpoints(org="acme", project="shop", deployment=deployment):
            if record.key.version == version:
                self.store.record_transition(
                    record.key, EndpointState.RUNNING, reason="up", actor="test"
                )
        return version

    async def put(self, path: str, body: dict[str, Any], who: dict[str, str] = ALICE) -> Any:
        return await self.api.put(f"{BASE}/aliases/{path}", json=body, headers=who)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings.db_url)
    tokens = TokenCheck()
    tokens.allow("wp_alice", Principal("alice", "admin"))
    tokens.allow("wp_bob", Principal("bob", "admin"))
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    app = create_app(ControlContext(service, FakeRuntime(), tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Env(client, service, store)
    store.close()


def routes_of(snapshot: RouteSnapshot) -> dict[str, dict[str, Any]]:
    return {
        r.prefix_header: {
            "backends": [(b.name, b.weight, b.target) for b in r.backends],
            "mirrors": [(m.name, m.target) for m in r.mirrors],
            "sticky": r.sticky,
        }
        for r in snapshot.routes
    }


def stored_snapshot(store: Store) -> RouteSnapshot:
    """``build_snapshot`` over what the store holds for acme/shop."""
    endpoints = [
        EndpointInput(
            org=e.key.org,
            project=e.key.project,
            deployment=e.key.deployment,
            version=e.key.version,
            name=e.key.endpoint,
            state=e.state,
            ever_ready=e.ever_ready,
            visibility=e.spec.visibility,
            strip_prefix=e.spec.strip_prefix,
            ready=(),
        )
        for e in store.list_endpoints(org="acme", project="shop")
    ]
    aliases = [
        AliasInput(a.org, a.project, a.deployment, a.name, a.policy)
        for a in store.list_aliases("acme", "shop")
    ]
    return build_snapshot(store.route_revision(), endpoints, aliases)


# -- set, read, list ------------------------------------------------------------------------


async def test_a_plain_alias_is_set_and_read_back(env: Env) -> None:
    for _ in range(3):
        await env.deploy("churn")
    response = await env.put("churn/production", {"backends": [{"version": 3}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("name", "deployment", "prefix", "url")} == {
        "name": "production",
        "deployment": "churn",
        "prefix": "acme/shop/churn/production",
        "url": "http://127.0.0.1:8080/acme/shop/churn/production/",
    }
    assert body["policy"] == {
        "backends": [
            {
                "name": "v3",
                "weight": 1,
                "target": {"deployment": None, "version": 3, "endpoint": None, "branch": "main"},
            }
        ],
        "mirrors": [],
        "sticky": None,
    }
    assert body["stats"]["backends"] == [
        {
            "name": "v3",
            "weight": 1,
            "share": 1.0,
            "target": "acme/shop/churn/3/web",
            "requests_1m": 0,
            "errors_1m": 0,
            "error_rate": 0.0,
        }
    ]
    assert body["updated_at"]

    one = await env.api.get(f"{BASE}/aliases/churn/production", headers=ALICE)
    listed = await env.api.get(f"{BASE}/aliases", headers=ALICE)
    assert one.json() == body
    assert listed.json() == [body]
    routes = routes_of(await env.service.snapshot())
    assert routes["acme/shop/churn/production/web"]["backends"] == [
        ("v3", 1, "acme/shop/churn/3/web")
    ]


async def test_split_mirror_sticky_and_live_counts_per_backend(env: Env) -> None:
    for _ in range(3):
        await env.deploy("churn")
    await env.deploy("candidate")
    body = {
        "backends": [{"version": 3, "weight": 90}, {"version": "latest", "weight": 10}],
        "mirrors": [{"deployment": "candidate", "version": 1}],
        "sticky": "header:X-User-ID",
    }
    assert (await env.put("churn/production", body)).status_code == 200
    route = "acme/shop/churn/production"
    report = GatewayReport(
        gateway="gw-1",
        at=time.time(),
        interval=1.0,
        backends=(
            BackendCount(route + "/web", "v3", "backend", "acme/shop/churn/3/web", 30, 3),
            BackendCount(route, "v3", "backend", "acme/shop/churn/3/web", 10, 1),
            BackendCount(route + "/web", "latest", "backend", "acme/shop/churn/3/web", 5, 0),
            BackendCount(
                route + "/web", "candidate-v1", "mirror", "acme/shop/candidate/1/web", 45, 2, 4
            ),
        ),
    )
    env.service.traffic.add(report, time.time())

    stats = (await env.api.get(f"{BASE}/aliases/churn/production", headers=ALICE)).json()["stats"]

    assert [
        (b["name"], b["weight"], b["share"], b["target"], b["requests_1m"], b["errors_1m"])
        for b in stats["backends"]
    ] == [
        ("v3", 90, 0.9, "acme/shop/churn/3/web", 40, 4),
        ("latest", 10, 0.1, "acme/shop/churn/3/web", 5, 0),
    ]
    assert stats["backends"][0]["error_rate"] == 0.1
    assert stats["mirrors"] == [
        {
            "name": "candidate-v1",
            "target": "acme/shop/candidate/1/web",
            "requests_1m": 45,
            "errors_1m": 2,
            "dropped_1m": 4,
        }
    ]
    route_json = routes_of(await env.service.snapshot())[route + "/web"]
    assert route_json == {
        "backends": [("v3", 90, "acme/shop/churn/3/web"), ("latest", 10, "acme/shop/churn/3/web")],
        "mirrors": [("candidate-v1", "acme/shop/candidate/1/web")],
        "sticky": "header:X-User-ID",
    }


async def test_an_alias_file_is_addressed_with_a_dash(env: Env) -> None:
    await env.deploy("churn")
    await env.deploy("other", ["web", "api"])
    body = {
        "backends": [
            {"name": "control", "deployment": "churn", "version": 1, "weight": 3},
            {"deployment": "other", "version": "latest", "endpoint": "web", "weight": 1},
        ]
    }
    response = await env.put("-/ab-test", body)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert (saved["deployment"], saved["prefix"]) == (None, "acme/shop/ab-test/latest")
    assert [b["name"] for b in saved["policy"]["backends"]] == ["control", "other-latest"]
    assert [b["target"] for b in saved["stats"]["backends"]] == [
        "acme/shop/churn/1/web",
        "acme/shop/other/1/web",
    ]
    assert (await env.api.get(f"{BASE}/aliases/-/ab-test", headers=ALICE)).json() == saved
    routes = routes_of(await env.service.snapshot())
    assert routes["acme/shop/ab-test/latest"]["backends"] == [
        ("control", 3, "acme/shop/churn/1/web"),
        ("other-latest", 1, "acme/shop/other/1/web"),
    ]


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment", "fields"),
    [
        pytest.param(
            "PUT", "/projects/acme/nope/aliases/churn/prod", {"backends": [{"version": 1}]},
            404, "there is no project acme/nope", [], id="put-missing-project",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/ghost/prod", {"backends": [{"version": 1}]},
            422, "there is no deployment 'ghost' in project acme/shop", ["deployment"],
            id="put-missing-deployment",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod", {"backends": [{"version": 9}]},
            422, "deployment 'churn' has no version 9 (versions: 1, 2)", ["backends.v9.version"],
            id="missing-version",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod",
            {"backends": [{"version": 1, "endpoint": "api"}]},
            422, "has no endpoint 'api'", ["backends.v1.endpoint"], id="missing-endpoint",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod",
            {"backends": [{"version": 1, "weight": 0}, {"version": 2, "weight": 0}]},
            422, "add up to 0", ["backends"], id="zero-weights",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod",
            {"backends": [{"version": 1, "weight": -1}, {"version": 2}]},
            422, "weight must be 0 or more", ["backends.v1.weight"], id="negative-weight",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/latest", {"backends": [{"version": 1}]},
            422, "reserved", ["name"], id="name-latest",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod",
            {"backends": [{"version": 1}, {"version": 1}]},
            422, "'v1' names two backends", ["backends.v1"], id="duplicate-names",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod",
            {"backends": [{"version": 1}], "sticky": "query:x"},
            422, "header:NAME or cookie:NAME", ["sticky"], id="bad-sticky",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/-/churn",
            {"backends": [{"deployment": "churn", "version": 1}]},
            422, "a name used both as a deployment and as an alias file", ["name"],
            id="file-alias-named-like-a-deployment",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/-/ab", {"backends": [{"version": 1}]},
            422, "must name its deployment", ["backends.v1.deployment"],
            id="file-alias-target-without-deployment",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod",
            {"backends": [{"version": 1}], "extra": True},
            422, "Extra inputs are not permitted", ["body.extra"], id="unknown-field",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod", {"backends": [{"version": "2"}]},
            422, "", ["body.backends.0.version.int", "body.backends.0.version.literal['latest']"],
            id="version-as-text",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/aliases/churn/prod", {"backends": []},
            422, "at least one backend", ["backends"], id="no-backends",
        ),
        pytest.param(
            "GET", "/projects/acme/shop/aliases/churn/nope", None,
            404, "there is no alias nope on deployment churn of project acme/shop", [],
            id="get-missing",
        ),
        pytest.param(
            "DELETE", "/projects/acme/shop/aliases/-/nope", None,
            404, "there is no alias nope on project acme/shop", [], id="delete-missing",
        ),
        pytest.param(
            "GET", "/projects/acme/shop/aliases/churn/nope/history", None,
            404, "there is no alias nope on deployment churn", [], id="history-never",
        ),
        pytest.param(
            "GET", "/projects/acme/nope/aliases", None,
            404, "there is no project acme/nope", [], id="list-missing-project",
        ),
        pytest.param(
            "PUT", "/projects/acme/shop/log-sinks", {"urls": ["ftp://x/", "http://h/"]},
            422, "not an http:// or https:// URL", ["urls.0"], id="bad-log-sink",
        ),
        pytest.param(
            "PUT", "/projects/a--b/shop/log-sinks", {"urls": []},
            422, "special characters", ["org"], id="bad-project-name",
        ),
        pytest.param(
            "GET", "/projects/acme/nope/log-sinks", None,
            404, "there is no project acme/nope", [], id="log-sinks-missing-project",
        ),
    ],
)  # fmt: skip
async def test_errors_are_json_with_a_sentence_and_one_problem_per_rule(
    env: Env,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    fragment: str,
    fields: list[str],
) -> None:
    await env.deploy("churn")
    await env.deploy("churn")
    response = await env.api.request(method, "/api/v1" + path, json=body, headers=ALICE)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] == {404: "not_found", 422: "invalid"}[status]
    assert fragment in answer["message"]
    assert [p["field"] for p in answer.get("problems", [])] == fields


async def test_a_new_deployment_named_like_an_alias_file_is_a_409(env: Env) -> None:
    await env.deploy("churn")
    body = {"backends": [{"deployment": "churn", "version": 1}]}
    assert (await env.put("-/ab", body)).status_code == 200

    refused = await env.api.post(
        f"{BASE}/deployments/ab/versions",
        files={"bundle": ("b.tar.gz", bundle({"app.py": ""}), "application/gzip")},
        headers=ALICE,
    )

    assert refused.status_code == 409
    assert refused.json()["message"].startswith(
        "'ab' is a name used both as a deployment and as an alias file"
    )
    assert await env.deploy("churn") == 2  # an existing deployment still gets versions


# -- history --------------------------------------------------------------------------------


async def test_history_after_set_set_delete_shows_who_when_old_and_new(env: Env) -> None:
    await env.deploy("churn")
    await env.deploy("churn")
    path = f"{BASE}/aliases/churn/production"
    await env.put("churn/production", {"backends": [{"version": 1}]}, who=ALICE)
    await env.put("churn/production", {"backends": [{"version": 2}]}, who=BOB)
    assert (await env.api.delete(path, headers=ALICE)).status_code == 204
    assert (await env.api.get(path, headers=ALICE)).status_code == 404

    history = (await env.api.get(path + "/history", headers=ALICE)).json()

    def names(policy: dict[str, Any] | None) -> list[str] | None:
        return None if policy is None else [b["name"] for b in policy["backends"]]

    assert [(e["actor"], names(e["old"]), names(e["new"])) for e in history] == [
        ("alice", None, ["v1"]),
        ("bob", ["v1"], ["v2"]),
        ("alice", ["v2"], None),
    ]
    assert all(e["deployment"] == "churn" and e["alias"] == "production" for e in history)
    assert history[0]["at"] <= history[1]["at"] <= history[2]["at"]
    # The same name on another deployment has its own history.
    await env.deploy("other")
    await env.put("other/production", {"backends": [{"version": 1}]})
    other = await env.api.get(f"{BASE}/aliases/other/production/history", headers=ALICE)
    assert len(other.json()) == 1


# -- apply ----------------------------------------------------------------------------------


def item(name: str, deployment: str | None, *backends: dict[str, Any], **extra: Any) -> Any:
    return {"name": name, "deployment": deployment, "backends": list(backends), **extra}


async def test_apply_is_all_or_nothing(env: Env) -> None:
    await env.deploy("churn")
    revision = await env.service.db(env.store.route_revision)
    body = {
        "aliases": [
            item("production", "churn", {"version": 1}),
            item("ab", None, {"deployment": "churn", "version": 9}, source="endpoints/ab.yaml"),
            item("staging", "ghost", {"version": 1}),
        ]
    }

    refused = await env.api.post(f"{BASE}/apply", json=body, headers=ALICE)

    assert refused.status_code == 422
    problems = refused.json()["problems"]
    assert [(p["file"], p["field"]) for p in problems] == [
        ("endpoints/ab.yaml", "-/ab: backends.churn-v9.version"),
        (None, "ghost/staging: deployment"),
    ]
    assert (await env.api.get(f"{BASE}/aliases", headers=ALICE)).json() == []
    assert await env.service.db(env.store.route_revision) == revision


async def test_apply_answers_what_changed(env: Env) -> None:
    await env.deploy("churn")
    await env.deploy("churn")
    first = {
        "aliases": [
            item("production", "churn", {"version": 1}),
            item("ab", None, {"deployment": "churn", "version": 2, "name": "split_1"}),
        ]
    }
    applied = await env.api.post(f"{BASE}/apply", json=first, headers=ALICE)
    assert applied.status_code == 200, applied.text
    answer = applied.json()
    assert answer["changed"] == ["acme/shop/churn/production", "acme/shop/ab/latest"]
    assert [(a["prefix"], a["changed"]) for a in answer["aliases"]] == [
        ("acme/shop/churn/production", True),
        ("acme/shop/ab/latest", True),
    ]

    revision = await env.service.db(env.store.route_revision)
    again = (await env.api.post(f"{BASE}/apply", json=first, headers=ALICE)).json()
    assert again["changed"] == []
    assert await env.service.db(env.store.route_revision) == revision

    second = {
        "aliases": [first["aliases"][0], item("ab", None, {"deployment": "churn", "version": 1})]
    }
    assert (await env.api.post(f"{BASE}/apply", json=second, headers=ALICE)).json()["changed"] == [
        "acme/shop/ab/latest"
    ]


async def test_apply_refuses_one_alias_given_twice(env: Env) -> None:
    await env.deploy("churn")
    one = item("production", "churn", {"version": 1})
    refused = await env.api.post(f"{BASE}/apply", json={"aliases": [one, one]}, headers=ALICE)
    assert refused.status_code == 422
    assert "alias churn/production is given more than once" in refused.json()["message"]


# -- log sinks ------------------------------------------------------------------------------


async def test_log_sinks_round_trip_into_the_route_snapshot(env: Env) -> None:
    await env.deploy("churn")
    before = (await env.api.get("/api/v1/internal/routes", headers=ALICE)).json()
    assert before["log_sinks"] == []
    urls = ["http://127.0.0.1:9000/logs", "https://logs.example.com/in"]

    put = await env.api.put(f"{BASE}/log-sinks", json={"urls": urls}, headers=ALICE)

    assert put.status_code == 200, put.text
    assert put.json() == {"urls": urls}
    assert (await env.api.get(f"{BASE}/log-sinks", headers=ALICE)).json() == {"urls": urls}
    after = (
        await env.api.get(
            f"/api/v1/internal/routes?after={before['revision']}&wait=5", headers=ALICE
        )
    ).json()
    assert after["revision"] > before["revision"]
    assert after["log_sinks"] == [{"project": "acme/shop", "url": u} for u in urls]
    assert (await env.service.snapshot()).log_sinks == tuple(LogSink("acme/shop", u) for u in urls)

    cleared = await env.api.put(f"{BASE}/log-sinks", json={"urls": []}, headers=ALICE)
    assert cleared.json() == {"urls": []}
    assert (await env.service.snapshot()).log_sinks == ()


async def test_more_than_ten_log_sinks_are_refused(env: Env) -> None:
    urls = [f"http://h/{i}" for i in range(11)]
    refused = await env.api.put(f"{BASE}/log-sinks", json={"urls": urls}, headers=ALICE)
    assert refused.status_code == 422
    assert refused.json()["message"] == "urls: at most 10 log sinks, not 11"


# -- the files users write ------------------------------------------------------------------

SEED_003 = {
    "example_alias_endpoint.yaml": SEED_ALIAS,
    "example_ab_endpoint.yaml": SEED_AB,
    "example_mirror_endpoint.yaml": SEED_MIRROR,
}


async def test_every_modelbit_example_of_seed_003_applies_unchanged(
    env: Env, tmp_path: Path
) -> None:
    for name in ("example_deployment", "example_deployment", "deployment_control"):
        await env.deploy(name)
    await env.deploy("deployment_experiment")
    await env.deploy("candidate_deployment")
    folder = tmp_path / "project" / "endpoints"
    folder.mkdir(parents=True)
    for name, text in SEED_003.items():
        (folder / name).write_text(text)

    declared, specs = aliases_from_path(folder)
    applied = await env.api.post(f"{BASE}/apply", json=apply_body(specs), headers=ALICE)

    assert declared is None
    assert applied.status_code == 200, applied.text
    assert applied.json()["changed"] == [
        "acme/shop/example_ab_endpoint/latest",
        "acme/shop/example_alias_endpoint/latest",
        "acme/shop/example_mirror_endpoint/latest",
    ]
    routes = routes_of(stored_snapshot(env.store))
    alias = {"backends": [("split_1", 1, "acme/shop/example_deployment/2/web")], "mirrors": []}
    for url in ("example_alias_endpoint/latest", "example_alias_endpoint/latest/web"):
        assert routes[f"acme/shop/{url}"] == {**alias, "sticky": None}
    for url in ("example_ab_endpoint/latest", "example_ab_endpoint/latest/web"):
        assert routes[f"acme/shop/{url}"]["backends"] == [
            ("split_1", 9, "acme/shop/deployment_control/1/web"),
            ("split_2", 1, "acme/shop/deployment_experiment/1/web"),
        ]
    for url in ("example_mirror_endpoint/latest", "example_mirror_endpoint/latest/web"):
        assert routes[f"acme/shop/{url}"] == {
            "backends": [("split_1", 1, "acme/shop/example_deployment/2/web")],
            "mirrors": [("mirror_1", "acme/shop/candidate_deployment/1/web")],
            "sticky": None,
        }


async def test_waypost_yaml_aliases_apply_too(env: Env, tmp_path: Path) -> None:
    await env.deploy("churn")
    await env.deploy("churn")
    (tmp_path / "waypost.yaml").write_text(
        "project: acme/shop\n"
        "deployment: churn\n"
        "endpoints: [{name: web, wsgi: 'app:app'}]\n"
        "aliases:\n"
        "  - name: production\n"
        "    backends: {control: {version: 1, weight: 90}, candidate: {version: 2, weight: 10}}\n"
        "    sticky: cookie:uid\n"
    )

    declared, specs = aliases_from_path(tmp_path)
    applied = await env.api.post(f"{BASE}/apply", json=apply_body(specs), headers=ALICE)

    assert declared == "acme/shop"
    assert applied.status_code == 200, applied.text
    [alias] = applied.json()["aliases"]
    assert alias["prefix"] == "acme/shop/churn/production"
    assert alias["policy"]["sticky"] == "cookie:uid"
    assert [(b["name"], b["weight"]) for b in alias["policy"]["backends"]] == [
        ("control", 90),
        ("candidate", 10),
    ]


async def test_the_alias_routes_are_in_the_openapi_document(env: Env) -> None:
    paths = (await env.api.get("/api/v1/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/projects/{org}/{project}/aliases",
        "/api/v1/projects/{org}/{project}/aliases/{deployment}/{name}",
        "/api/v1/projects/{org}/{project}/aliases/{deployment}/{name}/history",
        "/api/v1/projects/{org}/{project}/apply",
        "/api/v1/projects/{org}/{project}/log-sinks",
    ):
        assert path in paths


# -- the CLI against a live API -------------------------------------------------------------


@dataclass
class Live:
    url: str
    store: Store

    def cli(self, *args: str) -> Any:
        env = {"WAYPOST_API_URL": self.url, "WAYPOST_TOKEN": "wp_alice", "COLUMNS": "200"}
        return CliRunner().invoke(app, list(args), env=env)

    def deploy(self, deployment: str) -> None:
        files = {
            "waypost.yaml": f"project: acme/shop\ndeployment: {deployment}\n"
            "endpoints: [{name: web, wsgi: 'app:app'}]\n",
            "app.py": "app = None\n",
        }
        created = httpx.post(
            f"{self.url}{BASE}/deployments/{deployment}/versions",
            files={"bundle": ("b.tar.gz", bundle(files), "application/gzip")},
            headers=ALICE,
        )
        assert created.status_code == 201, created.text
        for ep in created.json()["endpoints"]:
            key = UnitKey("acme", "shop", deployment, ep["version"], ep["name"])
            self.store.record_transition(key, EndpointState.RUNNING, reason="up", actor="t")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """The real app served by uvicorn on a free loopback port, in a thread."""
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    store = Store.open(settings.db_url)
    tokens = TokenCheck()
    tokens.allow("wp_alice", Principal("alice", "admin"))
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    app = create_app(ControlContext(service, FakeRuntime(), tokens))
    try:
        with serving(app) as url:
            yield Live(url, store)
    finally:
        store.close()


def test_the_cli_sets_shows_rolls_back_applies_and_reports_status(
    live: Live, tmp_path: Path
) -> None:
    live.deploy("churn")
    live.deploy("churn")
    live.deploy("candidate")
    project = ("--project", "acme/shop")

    split = live.cli(
        "alias", "set", "churn/production", "1=90", "2=10",
        "--mirror", "candidate:1", "--sticky", "header:X-User-ID", "--json", *project,
    )  # fmt: skip
    assert split.exit_code == 0, split.output
    policy = json.loads(split.stdout)["policy"]
    assert [(b["name"], b["weight"]) for b in policy["backends"]] == [("v1", 90), ("v2", 10)]
    assert [m["name"] for m in policy["mirrors"]] == ["candidate-v1"]

    shown = live.cli("alias", "show", "churn/production", *project)
    assert shown.exit_code == 0, shown.output
    assert "http://127.0.0.1:8080/acme/shop/churn/production/" in shown.stdout
    assert "candidate-v1" in shown.stdout

    assert live.cli("alias", "set", "churn/production", "1", *project).exit_code == 0  # rollback
    history = live.cli("alias", "history", "churn/production", *project)
    assert history.exit_code == 0, history.output
    rows = [line for line in history.stdout.splitlines() if "alice" in line]
    assert len(rows) == 2
    assert "none" in rows[0]
    assert "v1(1)=90 v2(2)=10" in rows[1]
    assert rows[1].rstrip().endswith("v1(1)=1")

    endpoints = tmp_path / "endpoints"
    endpoints.mkdir()
    (endpoints / "example_ab_endpoint.yaml").write_text(SEED_003["example_ab_endpoint.yaml"])
    (endpoints / "example_mirror_endpoint.yaml").write_text(
        SEED_003["example_mirror_endpoint.yaml"]
    )
    # Seed 003's files name deployments this project does not have: refused, all of them.
    refused = live.cli("apply", str(endpoints), *project)
    assert refused.exit_code == 1
    assert "endpoints/example_ab_endpoint.yaml (-/example_ab_endpoint: " in refused.stderr
    assert "there is no deployment 'deployment_control'" in refused.stderr
    assert live.cli("alias", "list", "--json", *project).stdout.count('"prefix"') == 1

    for name in ("example_ab_endpoint", "example_mirror_endpoint"):
        (endpoints / f"{name}.yaml").write_text(
            SEED_003[f"{name}.yaml"]
            .replace("deployment_control", "churn")
            .replace("deployment_experiment", "churn")
            .replace("example_deployment", "churn")
            .replace("candidate_deployment", "candidate")
        )
    applied = live.cli("apply", str(endpoints), *project)
    assert applied.exit_code == 0, applied.output
    assert "2 of 2 alias(es) changed" in applied.stdout

    status = live.cli("status", "--json", *project)
    assert status.exit_code == 0, status.output
    aliases = json.loads(status.stdout)["aliases"]
    assert [a["prefix"] for a in aliases] == [
        "acme/shop/example_ab_endpoint/latest",
        "acme/shop/example_mirror_endpoint/latest",
        "acme/shop/churn/production",
    ]
    table = live.cli("status", *project)
    assert "acme/shop/example_mirror_endpoint/latest" in table.stdout
    assert "mirror_1" in table.stdout

    deleted = live.cli("alias", "delete", "example_ab_endpoint", *project)
    assert deleted.exit_code == 0, deleted.output
    missing = live.cli("alias", "show", "example_ab_endpoint", *project)
    assert missing.exit_code == 1
    assert "there is no alias example_ab_endpoint on project acme/shop" in missing.stderr
