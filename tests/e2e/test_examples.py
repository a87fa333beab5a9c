"""Each example, deployed by the real CLI on a real `waypost up`, called through the gateway."""

from __future__ import annotations

import httpx
import pytest

from tests.support.platform import EXAMPLES, Platform

pytestmark = pytest.mark.e2e


def test_flask_hello(platform: Platform) -> None:
    result = platform.deploy(EXAMPLES / "flask-hello")
    assert result["project"] == "acme/hello"
    assert result["deployment"] == "flask-hello"
    assert result["version"] == 1
    [endpoint] = result["endpoints"]
    assert endpoint["name"] == "web"
    assert endpoint["state"] == "Running"
    assert endpoint["url"] == f"{platform.gateway}/acme/hello/flask-hello/1/web/"

    answer = httpx.get(endpoint["url"] + "predict", params={"name": "Ada"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"predicted_first_letter": "a", "name": "Ada"}
    posted = httpx.post(endpoint["url"] + "predict", json={"name": "Bob"}, timeout=10)
    assert posted.json()["predicted_first_letter"] == "b"

    # url_for carries the prefix as requested: the version's, or `latest`.
    index = httpx.get(endpoint["url"], timeout=10).json()
    assert index["predict"] == "/acme/hello/flask-hello/1/web/predict?name=Ada"
    latest = httpx.get(f"{platform.gateway}/acme/hello/flask-hello/latest/web/", timeout=10)
    assert latest.json()["predict"] == "/acme/hello/flask-hello/latest/web/predict?name=Ada"


def test_fastapi_hello(platform: Platform) -> None:
    [endpoint] = platform.deploy(EXAMPLES / "fastapi-hello")["endpoints"]
    assert endpoint["state"] == "Running"
    answer = httpx.get(endpoint["url"] + "predict", params={"name": "Zoe"}, timeout=10)
    assert answer.json() == {"predicted_first_letter": "z", "name": "Zoe"}
    where = httpx.get(endpoint["url"] + "where", timeout=10).json()
    assert where["root_path"] == "/acme/hello/fastapi-hello/1/api"
    assert where["url"].endswith("/acme/hello/fastapi-hello/1/api/where")


def test_server_command_gets_path_env_and_header(platform: Platform) -> None:
    [endpoint] = platform.deploy(EXAMPLES / "server-command")["endpoints"]
    answer = httpx.get(
        endpoint["url"] + "anything/here", headers={"X-VH-Prefix": "spoofed/by/client"}, timeout=10
    ).json()
    assert answer == {
        "path": "/anything/here",
        "script_name": "/acme/hello/plain-server/1/echo",
        "prefix_header": "acme/hello/plain-server/1/echo",
        "default_prefix": "acme/hello/plain-server/1/echo",
    }


def test_valohai_yaml_only(platform: Platform) -> None:
    result = platform.deploy(
        EXAMPLES / "valohai-greet", "--project", "acme/hello", "--deployment", "greeter"
    )
    [endpoint] = result["endpoints"]
    assert endpoint["url"] == f"{platform.gateway}/acme/hello/greeter/1/greet/"
    answer = httpx.get(endpoint["url"] + "hi", params={"name": "Valohai"}, timeout=10).json()
    assert answer == {"greeting": "hello, Valohai", "path": "/hi"}


def test_second_deploy_is_version_two_and_latest_moves(platform: Platform) -> None:
    platform.deploy(
        EXAMPLES / "valohai-greet", "--project", "acme/hello", "--deployment", "greeter"
    )
    second = platform.deploy(
        EXAMPLES / "valohai-greet", "--project", "acme/hello", "--deployment", "greeter"
    )
    assert second["version"] == 2
    deployments = platform.api_get("/api/v1/projects/acme/hello/deployments")
    assert deployments[0]["versions"] == [1, 2]
    assert deployments[0]["latest"] == 2
    for selector in ("1", "2", "latest"):
        url = f"{platform.gateway}/acme/hello/greeter/{selector}/greet/x"
        assert httpx.get(url, timeout=10).status_code == 200


def test_gateway_answers_unknown_and_status_lists(platform: Platform) -> None:
    missing = httpx.get(f"{platform.gateway}/acme/hello/nothing/1/web/", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    platform.deploy(EXAMPLES / "server-command")
    status = platform.cli("status", "--project", "acme/hello", "--json")
    assert status.returncode == 0, status.stderr
    assert "plain-server" in status.stdout
