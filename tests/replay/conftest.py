"""A real headless Chromium (Debian's ``chromium``) driven through Playwright,
and helpers to build a project and open its replay page.

Playwright only drives the browser: its own browser download is never used.
The profile is a fresh directory; network features that would reach beyond
loopback are switched off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcfs.replay.browser import ARGS, CHROMIUM

TIMEOUT_MS = 30_000  # generous: the machine may be busy; nothing here is timed


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=list(ARGS),
            headless=True,
            viewport={"width": 1400, "height": 1000},
            timeout=TIMEOUT_MS,
        )
        ctx.set_default_timeout(TIMEOUT_MS)
        try:
            yield ctx
        finally:
            ctx.close()


class Viewer:
    """One open replay page, and what the tests ask of it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, url: str) -> Viewer:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready]")
        assert self.page.evaluate("document.body.dataset.ready") == "1", self.detail()
        return self

    def rows(self) -> list[str]:
        return [str(t) for t in self.page.locator("#list .row").all_inner_texts()]

    def list_text(self) -> str:
        return "\n".join(self.rows())

    def lanes(self) -> list[str]:
        return [str(t) for t in self.page.locator("#lanes div").all_inner_texts()]

    def transcript(self) -> list[str]:
        return [str(t) for t in self.page.locator("#transcript .row").all_inner_texts()]

    def detail(self) -> str:
        return str(self.page.inner_text("#detail"))

    def search(self, text: str) -> None:
        self.page.fill("#search", text)
        self.page.wait_for_function(
            "q => document.body.dataset.query === q", arg=text.strip().lower()
        )

    def filter(self, which: str, value: str) -> None:
        self.page.select_option(f"#f-{which}", value)
        self.page.wait_for_function(
            "([i, v]) => document.body.dataset.filters.split('|')[i] === v",
            arg=[["agent", "step", "kind"].index(which), value],
        )

    def wait_row(self, box: str, contains: str) -> None:
        """Wait until a row of ``#list`` or ``#transcript`` shows ``contains``."""
        self.page.wait_for_function(
            "([box, text]) => [...document.querySelectorAll(`#${box} .row`)]"
            ".some(r => r.textContent.includes(text))",
            arg=[box, contains],
        )

    def click_row(self, contains: str) -> None:
        self.page.locator("#list .row", has_text=contains).first.click()


@pytest.fixture
def viewer(browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    views: list[Viewer] = []

    def make(url: str) -> Viewer:
        v = Viewer(page)
        views.append(v)
        return v.open(url)

    try:
        yield make
    finally:
        page.close()
    for v in views:
        assert v.errors == [], v.errors
        assert v.dialogs == [], f"bucket content ran as script: {v.dialogs}"


# Real mounts, for the mount's event log and its ``events`` file.
from tests.support.mounts import backend, mount  # noqa: E402, F401
