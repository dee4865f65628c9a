"""A real headless Chromium for the admin tests: one browser per session, a fresh context per test.

Each page records what a user would see go wrong in the browser (console errors, requests that
failed or answered 4xx/5xx) so a test can assert the page loaded cleanly, static assets included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    expect,
    sync_playwright,
)

# Playwright's sync API drives its own asyncio event loop from the test thread, so Django sees
# a "running event loop" there and refuses ORM calls (SynchronousOnlyOperation) in fixtures and
# tests. No coroutine ever touches the database here — the loop only talks to the browser — so
# the check is a false positive here. Note it is process-wide: once this conftest is collected,
# the whole pytest run (other folders included) goes without the check.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Long enough for a cold first page on a slow CI machine, short enough to fail fast when a selector is wrong.
DEFAULT_TIMEOUT_MS = 15_000

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    # This hook sees every collected item of the run, not only this folder's: mark ours only.
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class BrowserProblems:
    """What went wrong in the browser while a page was open."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        # Chromium asks every site for /favicon.ico on its own; the admin's pages do not link one.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_request_failed(self, request: Request) -> None:
        # Leaving a page cancels its unfinished requests (net::ERR_ABORTED); that is the browser
        # navigating, not the server failing. A missing asset still shows up in on_response.
        if request.failure == "net::ERR_ABORTED":
            return
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed_requests.append(f"{response.request.method} {response.url}: HTTP {response.status}")

    def __bool__(self) -> bool:
        return bool(self.console_errors or self.failed_requests)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"The browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium).")
    browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        color_scheme="light",
        locale="en-US",
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def page(context: BrowserContext, browser_problems: BrowserProblems) -> Iterator[Page]:
    page = context.new_page()
    page.on("console", browser_problems.on_console)
    page.on("requestfailed", browser_problems.on_request_failed)
    page.on("response", browser_problems.on_response)
    yield page
    page.close()
