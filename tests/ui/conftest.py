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

For the web client's tests, as people use it (test_web_client.py, test_outbox.py):
- `web_server`: a `chatd serve` per test module, with rate limits that tests do not run into.
- `errors`: `browser_errors` for `web_server`, checked when the test ends.
- `person`: opens the app as a person in a browser context of their own (`people()` does the
  same for another server), and helpers that do what a person does (`send`, `create_chat`...).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    ViewportSize,
    async_playwright,
    expect,
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


async def watched_context(
    chromium: Browser,
    server: ServerProcess,
    errors: BrowserErrors,
    viewport: ViewportSize | None = None,
) -> BrowserContext:
    """A browser context of its own on `server` (relative URLs work), watched by `errors`."""
    context = await chromium.new_context(base_url=server.url, viewport=viewport)
    # Playwright's 30 s default only makes a broken page slow to report.
    context.set_default_timeout(10_000)
    errors.watch(context)
    return context


@pytest.fixture
async def page(
    chromium: Browser, chatd_server: ServerProcess, browser_errors: BrowserErrors
) -> AsyncIterator[Page]:
    context = await watched_context(chromium, chatd_server, browser_errors)
    try:
        yield await context.new_page()
        browser_errors.assert_none()
    finally:
        await context.close()


# The web client, as people use it


PASSWORD = "correct horse battery staple"
LIVE = 1_000  # ms: what one person sends, the other sees within a second
# Every test registers and logs in people from 127.0.0.1; the limit on failed logins for one
# name stays as it ships (a test runs into it).
GENEROUS_LIMITS = {
    "CHATD_RATE_LIMIT_REGISTRATIONS": "10000/minute",
    "CHATD_RATE_LIMIT_LOGINS": "10000/minute",
    "CHATD_RATE_LIMIT_CHAT_CREATIONS": "10000/minute",
    "CHATD_RATE_LIMIT_SENDS": "10000/minute",
    "CHATD_ARGON2_PROFILE": "CHEAPEST",
}


def start_server(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> ServerProcess:
    """A `chatd serve` on a SQLite file of its own, with GENEROUS_LIMITS unless `env` says."""
    directory = tmp_path_factory.mktemp(name)
    return ServerProcess(
        f"sqlite:///{directory / 'chatd.db'}",
        directory / "server.log",
        **{**GENEROUS_LIMITS, **env},
    ).start()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory, "web-client")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def errors(web_server: ServerProcess) -> Iterator[BrowserErrors]:
    collected = BrowserErrors(web_server.url)
    yield collected
    collected.assert_none()


Open = Callable[..., Awaitable[Page]]


@asynccontextmanager
async def people(
    chromium: Browser, server: ServerProcess, errors: BrowserErrors
) -> AsyncIterator[Open]:
    """Opens the app in a browser context of its own and registers (or logs in) `name`."""
    contexts: list[BrowserContext] = []
    dialogs: list[str] = []

    async def open_as(
        name: str, *, register: bool = True, viewport: ViewportSize | None = None
    ) -> Page:
        context = await watched_context(chromium, server, errors, viewport)
        contexts.append(context)
        page = await context.new_page()

        async def refuse(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", refuse)
        await page.goto("/")
        await log_in(page, name, register=register)
        return page

    try:
        yield open_as
    finally:
        for context in contexts:
            await context.close()
    assert not dialogs, f"the page opened dialogs: {dialogs}"


@pytest.fixture
async def person(
    chromium: Browser, web_server: ServerProcess, errors: BrowserErrors
) -> AsyncIterator[Open]:
    async with people(chromium, web_server, errors) as open_as:
        yield open_as


def unique(name: str) -> str:
    return f"{name}{secrets.token_hex(3)}"


async def alice_and_bob(person: Open) -> tuple[Page, str, Page, str]:
    """Two people registered in two browser contexts: (alice, her name, bob, his name)."""
    bob_name = unique("bob")
    bob = await person(bob_name)
    alice_name = unique("alice")
    alice = await person(alice_name)
    return alice, alice_name, bob, bob_name


def status(page: Page, text: str) -> Locator:
    """The connection status in the header, showing `text`."""
    return page.get_by_role("status").filter(has_text=text)


async def log_in(page: Page, name: str, *, register: bool = False) -> None:
    await page.get_by_label("Username", exact=True).fill(name)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    button = "Register" if register else "Log in"
    await page.get_by_role("button", name=button, exact=True).click()
    await expect(status(page, "Connected")).to_be_visible()


def messages(page: Page) -> Locator:
    return page.get_by_role("log", name="Messages").locator(".message")


def message(page: Page, text: str) -> Locator:
    return messages(page).filter(has=page.locator(".text").get_by_text(text, exact=True))


def chat_item(page: Page, name: str) -> Locator:
    return (
        page.get_by_role("list", name="Your chats")
        .locator(".chat-item")
        .filter(has=page.locator(".chat-name").get_by_text(name, exact=True))
    )


async def create_chat(page: Page, name: str, *members: str) -> None:
    await page.get_by_text("New group chat").click()
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Members (usernames, comma-separated)").fill(", ".join(members))
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()


async def send(page: Page, text: str) -> None:
    composer = page.get_by_label("Message", exact=True)
    await composer.fill(text)
    await composer.press("Enter")
    await expect(message(page, text)).to_be_visible()


async def edit_message(page: Page, text: str) -> None:
    """Opens the editor of one's own message: its Edit shows on hover (or focus)."""
    item = message(page, text)
    await item.hover()
    await item.get_by_role("button", name="Edit message").click()


async def delete_message(page: Page, text: str) -> None:
    """Deletes a message as a person does: hover it, Delete, and Delete again to confirm."""
    item = message(page, text)
    await item.hover()
    await item.get_by_role("button", name="Delete message").click()
    await item.get_by_role("button", name=re.compile(r"\bagain\b")).click()


async def account(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Registers `name` through the API: the headers of its session."""
    created = await api.post("/users", json={"username": name, "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = await api.post("/auth/tokens", json={"username": name, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['token']}"}
