"""PrefixMiddleware (WSGI) on raw environs, and a real Flask app's url_for through it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from flask import Flask, request, url_for
from werkzeug.test import Client

from waypost.prefix import PrefixMiddleware

VERSION = "acme/hello/flask-hello/1/web"
ALIAS = "acme/hello/flask-hello/production/web"
LATEST = "acme/hello/flask-hello/latest/web"


def recording_app() -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b""]

    return app, seen


@pytest.mark.parametrize(
    ("environ", "script_name", "path_info"),
    [
        pytest.param(
            {"PATH_INFO": f"/{ALIAS}/predict", "HTTP_X_VH_PREFIX": ALIAS},
            f"/{ALIAS}",
            "/predict",
            id="alias",
        ),
        pytest.param(
            {"PATH_INFO": f"/{LATEST}/predict", "HTTP_X_VH_PREFIX": LATEST},
            f"/{LATEST}",
            "/predict",
            id="latest",
        ),
        pytest.param(
            {"PATH_INFO": f"/{VERSION}/predict"}, f"/{VERSION}", "/predict", id="default-from-env"
        ),
        pytest.param({"PATH_INFO": "/predict"}, "", "/predict", id="no-prefix-left-alone"),
        pytest.param(
            {"PATH_INFO": f"/{VERSION}/predict", "HTTP_X_VH_PREFIX": "evil.example"},
            f"/{VERSION}",
            "/predict",
            id="spoofed-header",
        ),
        pytest.param(
            {"PATH_INFO": f"/{VERSION}", "HTTP_X_VH_PREFIX": VERSION},
            f"/{VERSION}",
            "/",
            id="empty-rest-is-slash",
        ),
        pytest.param(
            {"SCRIPT_NAME": f"/{VERSION}", "PATH_INFO": "/predict"},
            f"/{VERSION}",
            "/predict",
            id="server-already-split",
        ),
        pytest.param(
            {
                "SCRIPT_NAME": "/acme/hello",
                "PATH_INFO": "/flask-hello/production/web/predict",
                "HTTP_X_VH_PREFIX": ALIAS,
            },
            f"/{ALIAS}",
            "/predict",
            id="server-split-elsewhere",
        ),
        pytest.param(
            {"SCRIPT_NAME": "/mount", "PATH_INFO": "/predict"},
            "/mount",
            "/predict",
            id="unrelated-script-name-kept",
        ),
        pytest.param(
            {"PATH_INFO": f"/{ALIAS}/caf\xc3\xa9", "HTTP_X_VH_PREFIX": ALIAS},
            f"/{ALIAS}",
            "/caf\xc3\xa9",
            id="non-ascii-rest",
        ),
    ],
)
def test_environ(environ: dict[str, str], script_name: str, path_info: str) -> None:
    app, seen = recording_app()
    middleware = PrefixMiddleware(app, environ={"VH_DEFAULT_PREFIX": VERSION})
    environ.setdefault("SCRIPT_NAME", "")
    middleware(environ, lambda status, headers: None)
    assert (seen[-1]["SCRIPT_NAME"], seen[-1]["PATH_INFO"]) == (script_name, path_info)


def test_defaults_come_from_the_environment_mapping_or_the_argument() -> None:
    app, _ = recording_app()
    assert PrefixMiddleware(app, environ={"SCRIPT_NAME": f"/{VERSION}"}).default_prefixes == (
        f"/{VERSION}",
    )
    assert PrefixMiddleware(app, ["a/b"], environ={"VH_DEFAULT_PREFIX": "x"}).default_prefixes == (
        "a/b",
    )
    assert PrefixMiddleware(app, environ={}).default_prefixes == ()


def flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index() -> dict[str, str]:
        return {
            "predict": url_for("predict", name="Ada"),
            "external": url_for("predict", _external=True),
            "script_root": request.script_root,
        }

    @app.get("/predict")
    def predict() -> dict[str, str]:
        return {"name": request.args.get("name", "")}

    return app


@pytest.mark.parametrize(
    ("path", "header", "expected_root"),
    [
        pytest.param(f"/{ALIAS}/", ALIAS, f"/{ALIAS}", id="alias"),
        pytest.param(f"/{LATEST}/", LATEST, f"/{LATEST}", id="latest"),
        pytest.param(f"/{VERSION}/", VERSION, f"/{VERSION}", id="version"),
        pytest.param(f"/{VERSION}/", "evil.example/x", f"/{VERSION}", id="spoofed"),
        pytest.param("/", None, "", id="no-prefix"),
    ],
)
def test_flask_url_for_carries_the_requested_prefix(
    path: str, header: str | None, expected_root: str
) -> None:
    app = flask_app()
    app.wsgi_app = PrefixMiddleware(app.wsgi_app, environ={"VH_DEFAULT_PREFIX": VERSION})  # type: ignore[method-assign]
    client = Client(app)
    headers = {"X-VH-Prefix": header} if header else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    body = json.loads(response.get_data())
    assert body["script_root"] == expected_root
    assert body["predict"] == f"{expected_root}/predict?name=Ada"
    assert body["external"] == f"http://localhost{expected_root}/predict"
    routed = client.get(f"{expected_root}/predict?name=Ada", headers=headers)
    assert json.loads(routed.get_data()) == {"name": "Ada"}
