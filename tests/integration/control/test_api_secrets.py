"""Project secrets through the API in-process (ASGI) over a real SQLite store, and the CLI.

The one promise checked everywhere: once set, a value never comes back out, in any
response, error, event or log line.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from waypost.cli.main import app as cli_app
from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.secrets import SecretBox
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.settings import Settings
from waypost.store import Store

from .serving import serving
from .test_api import FakeRuntime

ALICE = {"Authorization": "Bearer wp_alice"}
READER = {"Authorization": "Bearer wp_reader"}
BASE = "/api/v1/projects/acme/shop/secrets"
VALUE = "hunter2-Zq9xv7Lk"


@dataclass
class Env:
    api: httpx.AsyncClient
    store: Store
    home: Path


def control_app(settings: Settings, store: Store) -> ControlContext:
    tokens = TokenCheck()
    tokens.allow("wp_alice", Principal("alice", "admin"))
    tokens.allow("wp_reader", Principal("reader", "read", "acme/shop"))
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    return ControlContext(service, FakeRuntime(), tokens)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings.db_url)
    transport = httpx.ASGITransport(app=create_app(control_app(settings, store)))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Env(client, store, tmp_path)
    store.close()


async def test_a_secret_is_set_listed_and_deleted(env: Env) -> None:
    put = await env.api.put(f"{BASE}/API_KEY", json={"value": VALUE}, headers=ALICE)
    assert put.status_code == 204, put.text
    assert put.content == b""

    listed = await env.api.get(BASE, headers=ALICE)
    assert listed.status_code == 200
    [secret] = listed.json()
    assert set(secret) == {"name", "updated_at"}
    assert secret["name"] == "API_KEY"

    deleted = await env.api.delete(f"{BASE}/API_KEY", headers=ALICE)
    assert deleted.status_code == 204
    assert (await env.api.get(BASE, headers=ALICE)).json() == []
    again = await env.api.delete(f"{BASE}/API_KEY", headers=ALICE)
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"


async def test_the_value_is_stored_encrypted_with_a_key_made_in_the_home(env: Env) -> None:
    await env.api.put(f"{BASE}/API_KEY", json={"value": VALUE}, headers=ALICE)

    key_file = env.home / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    ciphertext = env.store.secret_values("acme", "shop")["API_KEY"]
    assert VALUE.encode() not in ciphertext
    assert SecretBox(key_file).decrypt(ciphertext) == VALUE
    assert VALUE.encode() not in (env.home / "waypost.db").read_bytes()


async def test_the_value_never_comes_back_out(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    for name in ("API_KEY", "OTHER"):
        put = await env.api.put(f"{BASE}/{name}", json={"value": VALUE}, headers=ALICE)
        bodies.append(put.text)
    # Refusals that carry the value in their request: none may echo it.
    for path, body, status in (
        (f"{BASE}/PORT", {"value": VALUE}, 422),
        (f"{BASE}/lower", {"value": VALUE}, 422),
        (f"{BASE}/API_KEY", {"value": VALUE, "extra": VALUE}, 422),
        (f"{BASE}/API_KEY", {"value": [VALUE]}, 422),
        (f"{BASE}/API_KEY", {"value": VALUE * 5000}, 422),
    ):
        refused = await env.api.put(path, json=body, headers=ALICE)
        assert refused.status_code == status, refused.text
        bodies.append(refused.text)
    multibyte = "é" * 40_000  # under 65536 characters, over 64 KiB of UTF-8
    too_large = await env.api.put(f"{BASE}/BIG", json={"value": multibyte}, headers=ALICE)
    assert too_large.status_code == 413
    assert "é" not in too_large.text
    forbidden = await env.api.put(f"{BASE}/X", json={"value": VALUE}, headers=READER)
    assert forbidden.status_code == 403
    bodies.append(forbidden.text)
    await env.api.delete(f"{BASE}/OTHER", headers=ALICE)

    for path in (
        BASE,
        "/api/v1/events",
        "/api/v1/events?project=acme/shop",
        "/api/v1/projects",
        "/api/v1/endpoints",
        "/api/v1/projects/acme/shop/aliases",
        "/api/v1/projects/acme/shop/deployments",
        "/api/v1/internal/routes",
    ):
        got = await env.api.get(path, headers=ALICE)
        assert got.status_code == 200, (path, got.text)
        bodies.append(got.text)
    bodies.append((await env.api.get(BASE, headers=READER)).text)

    assert not [body for body in bodies if VALUE in body]
    assert VALUE not in caplog.text
    events = [e for e in env.store.list_events(org="acme") if e.kind == "secret"]
    assert [e.reason for e in events] == [
        "secret API_KEY set",
        "secret OTHER set",
        "secret OTHER deleted",
    ]


async def test_a_read_token_lists_names_but_cannot_change_them(env: Env) -> None:
    await env.api.put(f"{BASE}/API_KEY", json={"value": VALUE}, headers=ALICE)

    assert (await env.api.get(BASE, headers=READER)).status_code == 200
    assert (await env.api.delete(f"{BASE}/API_KEY", headers=READER)).status_code == 403
    other = await env.api.get("/api/v1/projects/acme/other/secrets", headers=READER)
    assert other.status_code == 403


async def test_bad_names_are_refused_with_the_rule(env: Env) -> None:
    refused = await env.api.put(f"{BASE}/WAYPOST_HOME", json={"value": "x"}, headers=ALICE)
    assert refused.status_code == 422
    assert "set by waypost itself" in refused.json()["message"]
    bad_project = await env.api.put(
        "/api/v1/projects/acme/Bad Project/secrets/A", json={"value": "x"}, headers=ALICE
    )
    assert bad_project.status_code == 422
    assert env.store.list_projects() == []


async def test_the_secret_routes_are_in_the_openapi_document(env: Env) -> None:
    paths = (await env.api.get("/api/v1/openapi.json")).json()["paths"]
    assert "/api/v1/projects/{org}/{project}/secrets" in paths
    assert set(paths["/api/v1/projects/{org}/{project}/secrets/{name}"]) == {"put", "delete"}


# -- the CLI against a live API -------------------------------------------------------------


@dataclass
class Live:
    url: str
    store: Store
    home: Path

    def cli(self, *args: str, stdin: str | None = None) -> Result:
        env = {"WAYPOST_API_URL": self.url, "WAYPOST_TOKEN": "wp_alice", "COLUMNS": "200"}
        project = ("--project", "acme/shop")
        result = CliRunner().invoke(cli_app, ["secrets", *args, *project], input=stdin, env=env)
        assert VALUE not in result.output
        return result

    def values(self) -> dict[str, str]:
        box = SecretBox.in_home(self.home)
        return {n: box.decrypt(c) for n, c in self.store.secret_values("acme", "shop").items()}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    store = Store.open(settings.db_url)
    try:
        with serving(create_app(control_app(settings, store))) as url:
            yield Live(url, store, settings.home)
    finally:
        store.close()


def test_the_cli_sets_from_stdin_lists_and_deletes(live: Live) -> None:
    piped = live.cli("set", "API_KEY", stdin=VALUE + "\n")
    assert piped.exit_code == 0, piped.output
    assert "restart an endpoint" in piped.stderr
    given = live.cli("set", "OTHER", "--value", "v2")
    assert given.exit_code == 0, given.output
    assert live.values() == {"API_KEY": VALUE, "OTHER": "v2"}

    listed = live.cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [s["name"] for s in json.loads(listed.stdout)] == ["API_KEY", "OTHER"]
    assert "API_KEY" in live.cli("list").stdout

    deleted = live.cli("delete", "OTHER")
    assert deleted.exit_code == 0, deleted.output
    missing = live.cli("delete", "OTHER")
    assert missing.exit_code == 1
    assert "has no secret OTHER" in missing.stderr
    refused = live.cli("set", "PORT", "--value", VALUE)
    assert refused.exit_code == 1
    assert "set by waypost itself" in refused.stderr
    assert live.values() == {"API_KEY": VALUE}
