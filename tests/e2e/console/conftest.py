"""A real Chromium (Debian's, headless) driven by Playwright, watched for JS errors.

Every page a test opens records ``pageerror`` events and console errors; the test
fails at teardown if there was any (an HTTP error a test provokes on purpose is
allowed by its status with ``allow_http``). Screenshots go to
``test-artifacts/console/`` at 1280 px and at a phone's width.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.support.platform import REPO, Platform

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "console"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
_HTTP_ERROR = re.compile(r"status of (\d{3})")


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)
    allowed: set[int] = field(default_factory=set)

    def allow_http(self, *statuses: int) -> None:
        """Console errors for HTTP answers with these statuses are expected from now on."""
        self.allowed.update(statuses)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        status = _HTTP_ERROR.search(message.text)
        if status and int(status.group(1)) in self.allowed:
            return
        self.errors.append(f"console error: {message.text} at {message.location}")

    def shot(self, name: str, *, phone: bool = True) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        if phone:
            self.page.set_viewport_size(PHONE)
            self.page.wait_for_timeout(300)
            self.page.screenshot(path=ARTIFACTS / f"{name}-phone.png", full_page=True)
            self.page.set_viewport_size(DESKTOP)

    def sign_in(self, platform: Platform, token: str | None = None) -> None:
        self.page.goto(platform.api + "/")
        assert "/signin" in self.page.url
        self.page.get_by_label("Token").fill(token or platform.token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(platform.api + "/")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport=DESKTOP,
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def watched(browser: BrowserContext) -> Iterator[Watched]:
    page = browser.new_page()
    w = Watched(page)
    page.on("pageerror", lambda exc: w.errors.append(f"page error: {exc}"))
    page.on("console", w.on_console)
    yield w
    assert not w.errors, "\n".join(w.errors)
