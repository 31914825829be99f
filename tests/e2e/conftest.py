"""A real Chromium, driven by Playwright, against pytest-django's live server.

Debian's /usr/bin/chromium is used, never a browser Playwright downloads: the
machine has no network, so the flags below also keep Chromium from reaching
out (without them it waits on the network and hangs). Screenshots go to
`E2E_SCREENSHOTS` when set, else to a temporary folder.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running in this thread; the
    # test's own ORM calls between browser steps are still synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
        # While that loop runs, Django keeps this thread's connections apart
        # from the ones it uses without a loop; those opened by the test are
        # closed here, or they would keep the test database from being dropped.
        connections.close_all()


def _context(browser: Browser, viewport: dict[str, int]) -> BrowserContext:
    # The browser asks for Chinese first, as a borrower's phone would.
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = _context(browser, PHONE)
    yield context.new_page()
    context.close()


@pytest.fixture
def desktop(browser: Browser) -> Callable[[], Page]:
    """A fresh desktop window per staff member, so sessions do not mix."""

    def open_window() -> Page:
        return _context(browser, DESKTOP).new_page()

    return open_window


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
