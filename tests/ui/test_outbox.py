"""The web client's outbox (issue 17): what a person writes reaches the server in the order it
was typed, waits through a cut network or a rate limit saying why, and is never lost without a
word: too long is refused before sending, and a send the server refuses can be edited or
discarded.

Each test here failed on the client before the outbox (docs/decisions.md, "The web client's
second pass").
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, Request, Route, expect

from tests.e2e.server import CHATD, ServerProcess
from tests.ui.conftest import (
    LIVE,
    BrowserErrors,
    Open,
    account,
    alice_and_bob,
    chat_item,
    create_chat,
    delete_message,
    edit_message,
    message,
    messages,
    people,
    send,
    start_server,
    unique,
)

pytestmark = pytest.mark.ui

BACK = 15_000  # ms: what waited is delivered this soon after the network is back
OFFLINE = ("ERR_INTERNET_DISCONNECTED", "WebSocket")


async def stored_texts(page: Page, server: ServerProcess) -> list[str]:
    """The open chat's history as the server keeps it, read with the page's own session."""
    token = await page.evaluate("sessionStorage.getItem('chatd.token')")
    chat = await page.locator(".chat-item[aria-current='true']").get_attribute("data-chat")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as api:
        found = await api.get(
            f"/chats/{chat}/messages",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert found.status_code == 200, found.text
    return [m["text"] for m in found.json()["messages"]]


async def arrived_in_order(alice: Page, bob: Page, server: ServerProcess, typed: list[str]) -> None:
    """Both people see `typed` in that order, and the server stored it so."""
    await expect(messages(alice).locator(".text")).to_have_text(typed)
    await expect(messages(bob).locator(".text")).to_have_text(typed, timeout=LIVE)
    assert await stored_texts(alice, server) == typed


async def said(item: Locator, text: str | re.Pattern[str]) -> bool:
    """Whether `item` comes to show `text`: checked after the order, so that a client that gets
    both wrong fails on the order, the defect that matters more."""
    try:
        await expect(item).to_contain_text(text)
    except AssertionError:
        return False
    return True


def sends_of(page: Page) -> list[Request]:
    """Every message send the page makes from now on."""
    sent: list[Request] = []
    page.on(
        "request",
        lambda r: sent.append(r) if r.method == "POST" and r.url.endswith("/messages") else None,
    )
    return sent


# 1. Order


async def test_sends_typed_offline_arrive_in_the_order_typed(
    person: Open, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "tunnel", bob_name)
    await chat_item(bob, "tunnel").click()
    errors.expect(*OFFLINE)
    await alice.context.set_offline(True)
    composer = alice.get_by_label("Message", exact=True)
    typed = [f"tunnel {n}" for n in range(1, 17)]
    for text in typed:
        await composer.fill(text)
        await composer.press("Enter")
    # While they wait, they show in the order typed, and say why they wait.
    await expect(messages(alice).locator(".text")).to_have_text(typed)
    said_why = await said(messages(alice).first, "Not sent yet: no connection")

    await alice.context.set_offline(False)
    await expect(alice.locator(".pending")).to_have_count(0, timeout=BACK)
    await arrived_in_order(alice, bob, web_server, typed)
    assert said_why, "a send waiting for the network did not say so"


async def test_sends_made_while_the_server_is_out_of_reach_arrive_in_the_order_typed(
    person: Open, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    # The network stays up (no "online" event to wake anything): only sends cannot get through,
    # as when the server restarts, for long enough that each would back off on its own.
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "restart", bob_name)
    await chat_item(bob, "restart").click()
    errors.expect("ERR_CONNECTION_REFUSED")

    async def refuse_sends(route: Route) -> None:
        if route.request.method == "POST":
            await route.abort("connectionrefused")
        else:
            await route.continue_()

    await alice.route("**/api/v1/chats/*/messages", refuse_sends)
    composer = alice.get_by_label("Message", exact=True)
    typed = [f"restart {n}" for n in range(1, 9)]
    for text in typed:
        await composer.fill(text)
        await composer.press("Enter")
        await alice.wait_for_timeout(400)
    await expect(messages(alice).locator(".text")).to_have_text(typed)
    await alice.unroute("**/api/v1/chats/*/messages", refuse_sends)

    await expect(alice.locator(".pending")).to_have_count(0, timeout=BACK * 2)
    await arrived_in_order(alice, bob, web_server, typed)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory, "rate-limited", CHATD_RATE_LIMIT_SENDS="10/2 seconds")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def limited_person(
    chromium: Browser, limited_server: ServerProcess
) -> AsyncIterator[tuple[Open, BrowserErrors]]:
    collected = BrowserErrors(limited_server.url)
    async with people(chromium, limited_server, collected) as open_as:
        yield open_as, collected
    collected.assert_none()


async def test_sends_over_the_rate_limit_wait_in_order_saying_until_when(
    limited_person: tuple[Open, BrowserErrors], limited_server: ServerProcess
) -> None:
    person, errors = limited_person
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "quickly", bob_name)
    await chat_item(bob, "quickly").click()
    errors.expect("429")
    composer = alice.get_by_label("Message", exact=True)
    typed = [f"quick {n}" for n in range(1, 41)]
    for text in typed:
        await composer.fill(text)
        await composer.press("Enter")
    why = re.compile(r"Not sent yet: too many messages at once \(rate limited\); retrying at \d")
    said_why = await said(alice.locator(".pending").first, why)
    await expect(alice.locator(".pending")).to_have_count(0, timeout=BACK)
    await arrived_in_order(alice, bob, limited_server, typed)
    assert said_why, "a send held back by the rate limit did not say why, nor until when"


# 2. Edits and deletes while offline


async def test_an_edit_and_a_delete_made_offline_are_applied_when_back(
    person: Open, errors: BrowserErrors
) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "edits", bob_name)
    await send(alice, "first thought")
    await send(alice, "regrettable")
    await chat_item(bob, "edits").click()
    await expect(messages(bob).locator(".text")).to_have_text(["first thought", "regrettable"])

    errors.expect(*OFFLINE)
    await alice.context.set_offline(True)
    await edit_message(alice, "first thought")
    editor = alice.get_by_role("textbox", name="Edit message")
    await editor.fill("second thought")
    await editor.press("Enter")
    # Kept, with the new text, saying it waits.
    edited = message(alice, "second thought")
    await expect(edited).to_contain_text("Not saved yet: no connection")
    await delete_message(alice, "regrettable")
    await expect(message(alice, "regrettable")).to_contain_text("Not deleted yet")

    await alice.context.set_offline(False)
    await expect(alice.locator(".pending")).to_have_count(0, timeout=BACK)
    await expect(edited).to_contain_text("(edited)")
    texts = ["second thought", "message deleted"]
    await expect(messages(alice).locator(".text")).to_have_text(texts)
    await expect(messages(bob).locator(".text")).to_have_text(texts, timeout=LIVE)
    await expect(message(bob, "second thought")).to_contain_text("(edited)")
    # Nothing says the server is out of reach once it is back.
    await expect(alice.get_by_role("alert")).to_have_count(0)
    await expect(alice.get_by_text("Cannot reach the server", exact=False)).to_have_count(0)


# 3. Too long, and refused


async def test_a_text_over_the_limit_is_counted_and_refused_before_sending(
    person: Open, web_server: ServerProcess
) -> None:
    async with httpx.AsyncClient(base_url=web_server.url) as http:
        schema = (await http.get("/openapi.json")).json()["components"]["schemas"]
    limit = schema["NewMessage"]["properties"]["text"]["maxLength"]
    alice, _, _, bob_name = await alice_and_bob(person)
    await create_chat(alice, "long", bob_name)
    sent = sends_of(alice)
    composer = alice.get_by_label("Message", exact=True)
    counter = alice.locator("#composer-count")

    await composer.fill("a" * (limit * 8 // 10 - 1))
    await expect(counter).to_be_hidden()
    await composer.fill("a" * (limit * 8 // 10))
    await expect(counter).to_have_text(f"{limit * 8 // 10} / {limit}")
    await expect(counter).not_to_have_class(re.compile(r"\bover\b"))

    too_long = "b" * (limit + 5)
    await composer.fill(too_long)
    await expect(counter).to_have_text(f"{limit + 5} / {limit}")
    await expect(counter).to_have_class(re.compile(r"\bover\b"))
    await composer.press("Enter")
    await expect(alice.get_by_role("alert")).to_have_text(
        f"Too long: {limit + 5} characters, at most {limit}. Shorten it by 5."
    )
    await expect(composer).to_have_value(too_long)
    await expect(messages(alice)).to_have_count(0)
    assert sent == []

    # Shortened to the limit, it goes, and the warning goes too.
    await composer.press("Backspace")
    await expect(alice.get_by_role("alert")).to_have_count(1)
    await composer.fill("c" * limit)
    await expect(alice.get_by_role("alert")).to_have_count(0)
    await composer.press("Enter")
    await expect(message(alice, "c" * limit)).not_to_have_class(re.compile(r"\bpending\b"))
    await expect(composer).to_have_value("")
    await expect(counter).to_be_hidden()
    assert len(sent) == 1


async def test_a_send_the_server_refuses_shows_why_and_can_be_edited_or_discarded(
    person: Open, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    # A moderator reads a chat they are not in (All chats) and writes into it: the server
    # refuses for good (403 not_a_member), however often it is retried.
    alice, _, _, bob_name = await alice_and_bob(person)
    await create_chat(alice, "members only", bob_name)
    mod_name = unique("mod")
    async with httpx.AsyncClient(base_url=f"{web_server.url}/api/v1") as api:
        await account(api, mod_name)
    promote = [str(CHATD), "users", "promote", mod_name, "--database-url"]
    await asyncio.to_thread(
        subprocess.run, [*promote, web_server.database_url], check=True, capture_output=True
    )
    mod = await person(mod_name, register=False)
    await mod.get_by_label("All chats (moderator)").check()
    await chat_item(mod, "members only").click()
    for n in range(1, 31):  # enough history that the end is out of view
        await send(alice, f"chatter {n}")
    await expect(messages(mod)).to_have_count(30, timeout=LIVE)

    errors.expect("403")
    composer = mod.get_by_label("Message", exact=True)
    await composer.fill("let me in")
    await composer.press("Enter")
    refused = message(mod, "let me in")
    await expect(refused).to_contain_text("Not sent: ")
    await expect(refused).to_contain_text("not a member")
    await expect(refused).to_be_in_viewport()
    await expect(composer).to_have_value("")

    await composer.fill("and more")
    await refused.get_by_role("button", name="Edit", exact=True).click()
    await expect(refused).to_have_count(0)
    await expect(composer).to_have_value("let me in\nand more")
    await expect(composer).to_be_focused()

    await composer.fill("knock knock")
    await composer.press("Enter")
    refused = message(mod, "knock knock")
    await expect(refused).to_contain_text("Not sent: ")
    await refused.get_by_role("button", name="Discard", exact=True).click()
    await expect(refused).to_have_count(0)
    await expect(messages(mod)).to_have_count(30)
    assert await stored_texts(alice, web_server) == [f"chatter {n}" for n in range(1, 31)]
