"""The console in a real browser over a real ``waypost up``, with an app endpoint.

The app (``fake_openai.py`` below) is a stdlib server that answers any path with JSON
and speaks the OpenAI-compatible routes the playground calls (chat with server-sent
events, embeddings), so the playground's modes are driven end to end without a model.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.platform import Platform

from .conftest import Watched

pytestmark = pytest.mark.e2e

KEY = "acme/console/fake/1/web"

FAKE_OPENAI = """\
import http.server, json, os

WORDS = ["Hello", " from", " the", " fake", " model"]

def vector(text):
    v = [0.0] * 8
    for i, c in enumerate(text.lower()):
        v[ord(c) % 8] += 1.0
    return v

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send_json(self, data, status=200):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_json({"hello": "world", "path": self.path,
                        "prefix": self.headers.get("X-VH-Prefix")})

    def do_POST(self):
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.endswith("/v1/embeddings"):
            items = [{"object": "embedding", "index": i, "embedding": vector(t)}
                     for i, t in enumerate(data["input"])]
            return self.send_json({"object": "list", "data": items})
        if self.path.endswith("/v1/chat/completions"):
            if not data.get("stream"):
                message = {"role": "assistant", "content": "".join(WORDS)}
                return self.send_json({"choices": [{"index": 0, "message": message}]})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for word in WORDS:
                chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
                self.chunk(("data: " + json.dumps(chunk) + "\\n\\n").encode())
            self.chunk(b"data: [DONE]\\n\\n")
            self.chunk(b"")
            return None
        self.send_json({"echo": data, "path": self.path}, status=201)

    def chunk(self, data):
        self.wfile.write(f"{len(data):x}\\r\\n".encode() + data + b"\\r\\n")
        self.wfile.flush()

    def log_message(self, fmt, *args):
        print("request", fmt % args, flush=True)

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def write_app(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fake_openai.py").write_text(FAKE_OPENAI)
    (folder / "waypost.yaml").write_text(
        "project: acme/console\ndeployment: fake\nendpoints:\n"
        "  - name: web\n    server-command: python fake_openai.py\n"
        "    health: {startup-timeout: 30s}\n"
        "    replicas: {min: 1, max: 2}\n"
    )
    return folder


def admin(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.token}"}


def wait_running(platform: Platform, key: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = platform.api_get(f"/api/v1/endpoints/{key}")["state"]
        if state == "Running":
            return
        time.sleep(0.25)
    raise AssertionError(f"{key} is {state}, not Running, after {timeout}s")


def test_console_flows_on_an_app_endpoint(
    platform: Platform, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    platform.deploy(write_app(tmp_path / "fake"))

    # Sign in: every page sends you to the sign-in page first.
    watched.sign_in(platform)
    row = page.locator(f'tr[data-key="{KEY}"]')
    expect(row).to_be_visible()
    badge = row.locator(".badge")
    expect(badge).to_have_text("Running", timeout=90_000)
    expect(row.locator("code.url")).to_have_text(f"{platform.gateway}/{KEY}/")

    # Some traffic, so rates and charts have something to show.
    for _ in range(20):
        httpx.get(f"{platform.gateway}/{KEY}/ping", timeout=10)
    expect(row.locator("td[data-label='Req/s']")).not_to_have_text("0", timeout=15_000)
    watched.shot("endpoints")

    # Live: a stop made elsewhere shows without a reload, well within a few seconds.
    stopped_at = time.monotonic()
    httpx.put(f"{platform.api}/api/v1/endpoints/{KEY}/stop", headers=admin(platform), timeout=10)
    expect(badge).to_have_text("Stopped", timeout=4_000)
    seen_after = time.monotonic() - stopped_at
    print(f"state change shown {seen_after:.2f}s after the API call")
    httpx.put(f"{platform.api}/api/v1/endpoints/{KEY}/start", headers=admin(platform), timeout=10)
    expect(badge).to_have_text("Running", timeout=90_000)

    # Filters.
    page.get_by_label("State").select_option("Stopped")
    expect(page.locator(f'tr[data-key="{KEY}"]')).to_have_count(0)
    page.get_by_label("State").select_option("")
    expect(page.locator(f'tr[data-key="{KEY}"]')).to_have_count(1)

    # The detail page: information, replicas, events, charts, logs.
    page.locator(f'tr[data-key="{KEY}"] a').first.click()
    page.wait_for_url(f"**/endpoints/{KEY}")
    expect(page.get_by_role("heading", name="Endpoint information")).to_be_visible()
    expect(page.locator("table.replicas tbody tr")).to_have_count(1)
    expect(page.locator("ol.timeline li").first).to_be_visible()
    expect(page.locator("#charts svg.chart")).to_have_count(4, timeout=15_000)
    expect(page.locator("#charts path.series").first).to_be_attached()
    expect(page.locator("#logs")).to_contain_text("request", timeout=15_000)
    watched.shot("endpoint")

    # The playground: the generic request view, then chat (streamed) and embeddings.
    page.get_by_role("link", name="Playground").click()
    page.wait_for_url(f"**/endpoints/{KEY}/playground")
    page.get_by_label("Method").select_option("GET")
    page.get_by_label("Path under the endpoint URL").fill("hello?x=1")
    page.locator("#request-form").get_by_role("button", name="Send").click()
    expect(page.locator("#resp-status")).to_contain_text("200 OK")
    expect(page.locator("#resp-status")).to_contain_text(" ms")
    expect(page.locator("#resp-body")).to_contain_text('"hello": "world"')
    expect(page.locator("#snippet-curl")).to_contain_text(
        f"curl -X GET '{platform.gateway}/{KEY}/hello?x=1'"
    )
    expect(page.locator("#snippet-python")).to_contain_text("requests.request(")

    page.get_by_role("tab", name="Text generation").click()
    page.get_by_label("Message").fill("Hi there")
    page.locator("#chat-form").get_by_role("button", name="Send").click()
    expect(page.locator(".msg.assistant").last).to_have_text("Hello from the fake model")
    expect(page.locator("#resp-status")).to_contain_text("200")

    page.get_by_role("tab", name="Feature extraction").click()
    page.locator("#embed-form").get_by_role("button", name="Embed").click()
    expect(page.locator("table.sim tbody tr")).to_have_count(3)
    expect(page.locator("table.sim td").first).to_have_text("1.000")
    watched.shot("playground")

    # An alias with two backends; change a weight in the console.
    alias = f"{platform.api}/api/v1/projects/acme/console/aliases/fake/production"
    policy = {
        "backends": [
            {"name": "blue", "version": 1, "weight": 1},
            {"name": "green", "version": 1, "weight": 1},
        ]
    }
    created = httpx.put(alias, json=policy, headers=admin(platform), timeout=10)
    assert created.status_code == 200, created.text
    for _ in range(10):
        httpx.get(f"{platform.gateway}/acme/console/fake/production/web/", timeout=10)
    page.get_by_role("link", name="Aliases").click()
    page.wait_for_url("**/aliases")
    section = page.locator("section.alias").first
    weight = section.get_by_label("Weight of green")
    save = section.get_by_role("button", name="Save weights")
    expect(save).to_be_disabled()
    weight.fill("-1")
    expect(section.locator('[data-error="weights"]')).to_contain_text("whole number")
    expect(save).to_be_disabled()
    weight.fill("3")
    expect(section.locator('[data-planned="1"]')).to_have_text("75%")
    expect(section.locator('[data-live$="|blue"]')).to_contain_text("req", timeout=10_000)
    save.click()
    expect(page.locator("#toast")).to_contain_text("Weights saved")
    weights = [
        b["weight"] for b in httpx.get(alias, headers=admin(platform)).json()["policy"]["backends"]
    ]
    assert weights == [1, 3]
    section.locator("summary", has_text="History").click()
    expect(section.locator("[data-history-list] li").first).to_contain_text(
        "blue 1, green 1 → blue 1, green 3"
    )
    watched.shot("aliases")

    # Settings: replicas (live), a refused value shown by its field, stop, then delete.
    page.goto(f"{platform.api}/endpoints/{KEY}/settings")
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    watched.allow_http(422)
    page.get_by_label(re.compile("^Max replicas")).fill("1")
    page.get_by_label(re.compile("^Min replicas")).fill("2")
    page.get_by_role("button", name="Update replicas").click()
    expect(page.locator('[data-error="replicas"]')).to_contain_text("below min replicas")
    page.get_by_label(re.compile("^Min replicas")).fill("1")
    page.get_by_role("button", name="Update replicas").click()
    expect(page.locator("#toast")).to_contain_text("Saved")
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("[data-live-state]")).to_have_text("Stopped", timeout=30_000)
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled()
    watched.shot("settings")
    delete = page.get_by_role("button", name="I understand and confirm deletion")
    expect(delete).to_be_disabled()
    page.get_by_label("Type web to confirm").fill("we")
    expect(delete).to_be_disabled()
    page.get_by_label("Type web to confirm").fill("web")
    delete.click()
    page.wait_for_url(f"{platform.api}/?deleted=**")
    expect(page.locator(f'tr[data-key="{KEY}"]')).to_have_count(0)
    gone = httpx.get(f"{platform.api}/api/v1/endpoints/{KEY}", headers=admin(platform))
    assert gone.status_code == 404


def test_private_endpoints_need_access_and_the_playground_sends_the_token(
    platform: Platform, watched: Watched, tmp_path: Path
) -> None:
    folder = write_app(tmp_path / "fake")
    (folder / "waypost.yaml").write_text(
        (folder / "waypost.yaml").read_text() + "    visibility: private\n"
    )
    platform.deploy(folder)
    wait_running(platform, KEY)
    made = platform.cli("tokens", "create", "reader", "--scope", "read", "--json")
    assert made.returncode == 0, made.stderr
    reader = json.loads(made.stdout)["token"]

    page = watched.page
    watched.sign_in(platform, reader)
    expect(page.get_by_role("heading", name="Endpoints of versions")).to_be_visible()
    expect(page.locator(f'tr[data-key="{KEY}"]')).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")

    watched.sign_in(platform)
    page.goto(f"{platform.api}/endpoints/{KEY}/playground")
    expect(page.locator("#snippet-curl")).to_contain_text("Authorization: Bearer $WAYPOST_TOKEN")
    page.get_by_label("Method").select_option("POST")
    page.get_by_label("Path under the endpoint URL").fill("predict")
    page.get_by_label("JSON body").fill('{"x": [1, 2]}')
    page.locator("#request-form").get_by_role("button", name="Send").click()
    expect(page.locator("#resp-status")).to_contain_text("201")
    expect(page.locator("#resp-body")).to_contain_text('"x": [')
    # Straight to the gateway without a token: refused, so the console did send one.
    assert httpx.post(f"{platform.gateway}/{KEY}/predict", json={}).status_code == 401
