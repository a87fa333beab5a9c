"""The console's pages and fragments in-process: sign-in, who sees what, the cookie rules."""

from __future__ import annotations

import json
import re
import time

import pytest

from waypost.control.context import CONSOLE_COOKIE
from waypost.model.lifecycle import EndpointState
from waypost.model.report import GatewayReport, TargetLoad

from .conftest import LAB_WEB, SECRET, WEB, Console

pytestmark = pytest.mark.asyncio


async def test_pages_redirect_to_signin_without_a_session(console: Console) -> None:
    for path in ("/", "/new", "/aliases", f"/endpoints/{WEB.id}", f"/endpoints/{WEB.id}/settings"):
        response = await console.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/signin?next=%2F"), path


async def test_signin_sets_an_httponly_strict_cookie_and_goes_back(console: Console) -> None:
    form = await console.client.get("/signin?next=/aliases")
    assert form.status_code == 200
    assert 'name="next" value="/aliases"' in form.text
    response = await console.client.post("/signin", data={"token": "admin", "next": "/aliases"})
    assert response.status_code == 303
    assert response.headers["location"] == "/aliases"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{CONSOLE_COOKIE}=admin")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert (await console.client.get("/")).status_code == 200


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("nope", "that token is not valid", id="unknown"),
        pytest.param("", "enter a token", id="empty"),
        pytest.param("invoker", "a invoke token cannot use the console", id="invoke-scope"),
    ],
)
async def test_signin_refuses(console: Console, token: str, message: str) -> None:
    response = await console.client.post("/signin", data={"token": token})
    assert response.status_code == 401
    assert message in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("next_path", "where"),
    [
        pytest.param("https://evil.example/", "/", id="absolute"),
        pytest.param("//evil.example/x", "/", id="scheme-relative"),
        pytest.param("/\\evil.example", "/", id="backslash"),
        pytest.param("/endpoints/a/b/c/1/d", "/endpoints/a/b/c/1/d", id="local"),
    ],
)
async def test_signin_never_redirects_off_site(
    console: Console, next_path: str, where: str
) -> None:
    response = await console.client.post("/signin", data={"token": "admin", "next": next_path})
    assert response.headers["location"] == where


async def test_signout_clears_the_cookie(console: Console) -> None:
    console.as_user("admin")
    response = await console.client.post("/signout")
    assert response.status_code == 303
    assert f'{CONSOLE_COOKIE}=""' in response.headers["set-cookie"]


async def test_the_list_shows_every_endpoint_with_state_url_and_replicas(console: Console) -> None:
    console.store.record_transition(WEB, EndpointState.RUNNING, reason="test", actor="system")
    console.as_user("admin")
    page = await console.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for key in (WEB, SECRET, LAB_WEB):
        assert f'data-key="{key.id}"' in page.text
    assert 'data-state="Running"' in page.text
    assert "http://127.0.0.1:" in page.text
    assert f"/{WEB.id}/" in page.text
    assert 'data-copy="' in page.text


async def test_the_list_filters_by_project_deployment_and_state(console: Console) -> None:
    console.store.record_transition(WEB, EndpointState.RUNNING, reason="test", actor="system")
    console.as_user("admin")
    by_project = await console.client.get("/console/fragments/endpoints?project=other/lab")
    assert _keys(by_project.text) == {LAB_WEB.id}
    by_state = await console.client.get("/console/fragments/endpoints?state=Running")
    assert _keys(by_state.text) == {WEB.id}
    by_deployment = await console.client.get("/?deployment=hello")
    assert _keys(by_deployment.text) == {WEB.id, SECRET.id}


async def test_private_endpoints_are_hidden_from_tokens_that_cannot_call_them(
    console: Console,
) -> None:
    console.as_user("reader")
    listed = await console.client.get("/console/fragments/endpoints")
    assert _keys(listed.text) == {WEB.id, LAB_WEB.id}
    detail = await console.client.get(f"/endpoints/{SECRET.id}")
    assert detail.status_code == 404
    console.as_user("shop-deployer")
    assert _keys((await console.client.get("/")).text) == {WEB.id, SECRET.id}
    other = await console.client.get(f"/endpoints/{LAB_WEB.id}")
    assert other.status_code == 403


async def test_fragments_answer_401_without_a_session(console: Console) -> None:
    response = await console.client.get("/console/fragments/endpoints")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_the_api_takes_the_cookie_but_changes_need_the_console_header(
    console: Console,
) -> None:
    console.as_user("admin")
    one = f"/api/v1/endpoints/{WEB.id}"
    assert (await console.client.get(one)).status_code == 200
    body = {"replicas": {"max": 2}}
    refused = await console.client.patch(one, json=body)
    assert refused.status_code == 403
    assert "X-Waypost-Console" in refused.json()["message"]
    done = await console.client.patch(one, json=body, headers={"X-Waypost-Console": "1"})
    assert done.status_code == 200, done.text
    assert done.json()["spec"]["replicas"]["max"] == 2
    console.as_user("nope")
    assert (await console.client.get(one)).status_code == 401


async def test_a_bearer_header_wins_over_the_cookie(console: Console) -> None:
    console.as_user("reader")
    response = await console.client.patch(
        f"/api/v1/endpoints/{WEB.id}",
        json={"replicas": {"max": 2}},
        headers={"Authorization": "Bearer admin"},
    )
    assert response.status_code == 200, response.text


async def test_the_detail_page_shows_information_state_replicas_and_events(
    console: Console,
) -> None:
    console.store.record_transition(WEB, EndpointState.RUNNING, reason="ready", actor="system")
    console.as_user("admin")
    page = await console.client.get(f"/endpoints/{WEB.id}")
    assert page.status_code == 200
    for text in ("Endpoint information", "dtype=float16", "wsgi: app:app", "Replicas", "Events"):
        assert text in page.text, text
    live = await console.client.get(f"/console/fragments/endpoint/{WEB.id}")
    assert 'data-state="Running"' in live.text
    assert "ready" in live.text


async def test_the_settings_page_lists_the_actions_that_fit_each_state(console: Console) -> None:
    console.as_user("admin")
    page = await console.client.get(f"/endpoints/{WEB.id}/settings")
    assert page.status_code == 200
    match = re.search(r'id="actions-data">(.*?)</script>', page.text)
    assert match is not None
    assert json.loads(match.group(1))["Running"] == ["stop", "restart"]
    assert 'data-expect="web"' in page.text  # the typed-name confirmation


async def test_other_pages_render(console: Console) -> None:
    console.as_user("admin")
    for path in (f"/endpoints/{WEB.id}/playground", "/new", "/aliases?project=acme/shop"):
        response = await console.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
    missing = await console.client.get("/endpoints/acme/shop/hello/9/web")
    assert missing.status_code == 404
    assert "Not found" in missing.text


async def test_charts_and_metrics_show_what_gateways_reported(console: Console) -> None:
    now = time.time()
    report = GatewayReport("gw/1", now, 1.0, targets=(TargetLoad(WEB.id, 2, 40, 4, 400.0),))
    console.service.record_traffic(report, now)
    console.as_user("admin")
    metrics = await console.client.get(f"/api/v1/endpoints/{WEB.id}/metrics?since={now - 60}")
    assert metrics.status_code == 200
    points = metrics.json()["points"]
    assert sum(p["requests"] for p in points) == 40
    assert sum(p["errors"] for p in points) == 4
    assert max(p["p50_ms"] or 0 for p in points) == 10.0
    charts = await console.client.get(f"/console/fragments/charts/{WEB.id}")
    assert charts.text.count("<svg") == 4
    assert 'class="series series-0"' in charts.text
    listed = await console.client.get("/console/fragments/endpoints?deployment=hello")
    assert "10%" in listed.text  # the error rate of web


async def test_metrics_of_an_unknown_endpoint_is_404(console: Console) -> None:
    console.as_user("admin")
    response = await console.client.get("/api/v1/endpoints/acme/shop/hello/9/web/metrics")
    assert response.status_code == 404


def _keys(html: str) -> set[str]:
    return set(re.findall(r'data-key="([^"]+)"', html))
