"""Debian's Chromium driven by Playwright's async API, and a real chatd server to point it at.

Async on purpose: a live sync Playwright session runs an event loop of its own and breaks every
later asyncio test. Browsers are never downloaded (`playwright install` is blocked here): CI
installs Debian's `chromium` (.ci/run).

- `chromium`: one headless browser for the whole session.
- `chatd_server`: one `chatd serve` process on a SQLite file for the whole session.
- `browser_errors`: what the page complained about (console errors, uncaught exceptions, failed
  or off-site requests).
- `page`: a fresh browser context on `chatd_server` (relative URLs work), watched by
  `browser_errors`; the test fails if anything was collected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
)

from tests.e2e.server import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class BrowserErrors:
    """Collects everything the pages of a browser context got wrong. A self-hosted server may have
    no internet, so a request that leaves the server's origin counts too."""

    def __init__(self, origin: str) -> None:
        self.own_urls = (f"{origin}/", f"ws{origin.removeprefix('http')}/")
        self.console: list[str] = []
        self.exceptions: list[str] = []
        self.requests: list[str] = []
        self.expected: list[str] = []

    def expect(self, *fragments: str) -> None:
        """What a test provokes on purpose (a wrong password's 401, a cut network's failed
        requests): reports containing any of `fragments` are not problems. Chromium logs every
        failed response to the console as well ("the server responded with a status of 401")."""
        self.expected += fragments

    def watch(self, context: BrowserContext) -> None:
        """Every page of the context, popups included."""
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self.exceptions.append(str(error.error)))
        context.on("request", self._on_request)
        context.on("requestfailed", self._on_request_failed)
        context.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            url = message.location.get("url")
            self.console.append(f"{message.text} ({url})" if url else message.text)

    def _on_request(self, request: Request) -> None:
        on_network = request.url.startswith(("http:", "https:", "ws:", "wss:"))
        if on_network and not request.url.startswith(self.own_urls):
            self.requests.append(f"off-site: {request.method} {request.url}")

    def _on_request_failed(self, request: Request) -> None:
        self.requests.append(f"failed: {request.method} {request.url} ({request.failure})")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.requests.append(f"{response.status}: {response.request.method} {response.url}")

    def assert_none(self) -> None:
        """Fails on anything collected so far, and forgets it: the `page` fixture checks again at
        teardown, and must report only what came after."""
        reported = [*(f"console error: {text}" for text in self.console), *self.requests]
        problems = [
            *(problem for problem in reported if not any(e in problem for e in self.expected)),
            *(f"uncaught exception: {text}" for text in self.exceptions),
        ]
        self.console.clear()
        self.exceptions.clear()
        self.requests.clear()
        assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    # Fail, not skip: a skipped browser suite would let CI pass without ever opening a page.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def chromium(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def chatd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("ui-server")
    server = ServerProcess(f"sqlite:///{directory / 'chatd.db'}", directory / "server.log").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def browser_errors(chatd_server: ServerProcess) -> BrowserErrors:
    return BrowserErrors(chatd_server.url)


@pytest.fixture
async def page(
    chromium: Browser, chatd_server: ServerProcess, browser_errors: BrowserErrors
) -> AsyncIterator[Page]:
    context = await chromium.new_context(base_url=chatd_server.url)
    # Playwright's 30 s default only makes a broken page slow to report.
    context.set_default_timeout(10_000)
    browser_errors.watch(context)
    try:
        yield await context.new_page()
        browser_errors.assert_none()
    finally:
        await context.close()
