"""What issue 18 adds to the web client, as two people use it: search, replies, reactions,
mentions, "bob is typing…" and online dots. Each test failed before its feature was built."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.server import ServerProcess
from tests.ui.conftest import (
    LIVE,
    Open,
    alice_and_bob,
    chat_item,
    create_chat,
    log_in,
    message,
    send,
    unique,
)
from tests.ui.test_web_client import screenshot

pytestmark = pytest.mark.ui

MARKED = re.compile(r"\bmarked\b")


async def post(page: Page, server: ServerProcess, path: str, body: dict[str, object]) -> None:
    """A request with the page's own session (faster than typing many messages)."""
    token = await page.evaluate("sessionStorage.getItem('chatd.token')")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as api:
        reply = await api.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code in (200, 201), reply.text


async def open_chat_id(page: Page) -> str:
    chat = await page.locator(".chat-item[aria-current='true']").get_attribute("data-chat")
    assert chat
    return chat


async def in_view(page: Page, text: str) -> bool:
    """Whether the message showing `text` is inside the visible part of the message list."""
    return bool(
        await message(page, text).evaluate(
            """(item) => {
                const box = item.getBoundingClientRect();
                const list = item.closest('ol').getBoundingClientRect();
                return box.top >= list.top - 1 && box.bottom <= list.bottom + 1;
            }"""
        )
    )


async def test_a_search_result_opens_its_chat_at_the_message(
    person: Open, web_server: ServerProcess
) -> None:
    alice, alice_name, bob, bob_name = await alice_and_bob(person)
    name = unique("search")
    await create_chat(bob, name, alice_name)
    chat = await open_chat_id(bob)
    # Alice has not opened the chat, and the message she finds is older than the page a chat
    # opens with (50): it has to be fetched before it can be shown.
    await post(bob, web_server, f"/chats/{chat}/messages", {"text": "🍍 a ripe Pineapple, at last"})
    for i in range(60):
        await post(bob, web_server, f"/chats/{chat}/messages", {"text": f"filler {i}"})
    await expect(chat_item(alice, name)).to_contain_text("filler 59")
    await alice.get_by_label("Search messages").fill("pinea")
    await alice.get_by_label("Search messages").press("Enter")
    result = alice.get_by_role("list", name="Search results").locator(".chat-item")
    await expect(result).to_have_count(1)
    # The word is marked where the server said, past the emoji (2 UTF-16 units, 1 code point).
    await expect(result.locator("mark")).to_have_text("Pineapple")
    await expect(result).to_contain_text(f"{bob_name}: ")
    await expect(result.locator(".chat-name")).to_have_text(name)
    await result.click()
    await expect(message(alice, "🍍 a ripe Pineapple, at last")).to_be_visible()
    await screenshot(alice, "search")
    await expect(alice.get_by_role("heading", name=name)).to_be_visible()
    found = message(alice, "🍍 a ripe Pineapple, at last")
    await expect(found).to_have_class(MARKED)
    assert await in_view(alice, "🍍 a ripe Pineapple, at last")


async def test_a_reply_quotes_the_message_and_the_quote_leads_back_to_it(
    person: Open, web_server: ServerProcess
) -> None:
    alice, alice_name, bob, bob_name = await alice_and_bob(person)
    name = unique("replies")
    await create_chat(alice, name, bob_name)
    chat = await open_chat_id(alice)
    await chat_item(bob, name).click()
    await send(alice, "where do we meet?")
    for i in range(30):  # the original goes out of view
        await post(alice, web_server, f"/chats/{chat}/messages", {"text": f"later {i}"})
    await expect(message(bob, "later 29")).to_be_visible()

    original = message(bob, "where do we meet?")
    await original.hover()
    await original.get_by_role("button", name="Reply", exact=True).click()
    bar = bob.locator("#reply-bar")
    await expect(bar).to_contain_text(f"Replying to {alice_name}: where do we meet?")
    await bob.get_by_role("button", name="Cancel reply").click()
    await expect(bar).to_be_hidden()
    await original.hover()
    await original.get_by_role("button", name="Reply", exact=True).click()
    await expect(bob.get_by_label("Message", exact=True)).to_be_focused()
    await send(bob, "at the station")
    await expect(bar).to_be_hidden()

    answer = message(alice, "at the station")
    quote = answer.locator(".quote")
    await expect(quote).to_have_text(f"{alice_name} where do we meet?", timeout=LIVE)
    assert not await in_view(alice, "where do we meet?")
    await quote.click()
    await expect(message(alice, "where do we meet?")).to_have_class(MARKED)
    await screenshot(alice, "reply")
    assert await in_view(alice, "where do we meet?")


async def test_reactions_count_for_both_and_a_click_takes_mine_back(person: Open) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    name = unique("reactions")
    await create_chat(alice, name, bob_name)
    await chat_item(bob, name).click()
    await send(alice, "lunch?")
    mine = message(bob, "lunch?")
    await mine.hover()
    await mine.get_by_role("button", name="React 👍").click()

    chip = message(alice, "lunch?").locator(".chip")
    await expect(chip).to_have_text("👍 1", timeout=LIVE)
    await expect(chip).to_have_attribute("aria-pressed", "false")
    await chip.click()
    await expect(chip).to_have_text("👍 2")
    await expect(chip).to_have_attribute("aria-pressed", "true")
    await expect(message(bob, "lunch?").locator(".chip")).to_have_text("👍 2", timeout=LIVE)
    await screenshot(bob, "reactions")
    await chip.click()  # toggles mine off
    await expect(chip).to_have_text("👍 1")
    await expect(chip).to_have_attribute("aria-pressed", "false")
    bobs = message(bob, "lunch?").locator(".chip")
    await expect(bobs).to_have_text("👍 1", timeout=LIVE)
    await expect(bobs).to_have_attribute("aria-pressed", "true")
    await bobs.click()
    await expect(chip).to_have_count(0, timeout=LIVE)


async def test_a_mention_is_suggested_marked_and_counted_in_the_chat_list(person: Open) -> None:
    alice, alice_name, bob, bob_name = await alice_and_bob(person)
    elsewhere, here = unique("elsewhere"), unique("mentions")
    await create_chat(bob, here, alice_name)
    await create_chat(alice, elsewhere, bob_name)  # alice looks at another chat

    await chat_item(bob, here).click()
    composer = bob.get_by_label("Message", exact=True)
    await composer.press_sequentially(f"hi @{alice_name[:4].upper()}")
    option = bob.get_by_role("option", name=f"@{alice_name}")
    await expect(option).to_be_visible()
    await screenshot(bob, "mention")
    await composer.press("Enter")  # takes the suggestion, does not send
    await expect(composer).to_have_value(f"hi @{alice_name} ")
    await composer.press_sequentially("look")
    await composer.press("Enter")
    await expect(message(bob, f"hi @{alice_name} look")).to_be_visible()

    item = chat_item(alice, here)
    await expect(item.locator(".mentioned")).to_have_text("@", timeout=LIVE)
    await expect(chat_item(alice, elsewhere).locator(".mentioned")).to_have_count(0)
    await item.click()
    said = message(alice, f"hi @{alice_name} look")
    await expect(said.locator("mark.mention")).to_have_text(f"@{alice_name}")
    await expect(said).to_have_class(re.compile(r"\bmentions-me\b"))
    await expect(item.locator(".mentioned")).to_have_count(0)


async def test_typing_shows_on_the_other_side_and_goes(person: Open) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    name = unique("typing")
    await create_chat(alice, name, bob_name)
    await chat_item(bob, name).click()
    await send(alice, "hello")
    await expect(message(bob, "hello")).to_be_visible()
    typing = alice.locator("#typing")
    composer = bob.get_by_label("Message", exact=True)

    await composer.press_sequentially("hm")
    await expect(typing).to_have_text(f"{bob_name} is typing…", timeout=LIVE)
    # Without another signal it lapses after 6 s.
    await expect(typing).to_have_text("", timeout=9_000)

    await composer.press_sequentially(" ok")
    await expect(typing).to_have_text(f"{bob_name} is typing…", timeout=LIVE)
    await composer.press("Enter")  # his message arrives: he no longer types it
    await expect(message(alice, "hm ok")).to_be_visible(timeout=LIVE)
    await expect(typing).to_have_text("", timeout=LIVE)
    await expect(bob.locator("#typing")).to_have_text("")


async def test_the_online_dot_follows_the_other_person(person: Open) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await alice.get_by_label("Private chat with").fill(bob_name)
    await alice.get_by_role("button", name="Open", exact=True).click()
    await send(alice, "are you there?")
    item = chat_item(alice, bob_name)
    dot = item.get_by_role("img", name="online")
    await expect(dot).to_be_visible(timeout=LIVE)
    await alice.get_by_role("button", name="Details").click()
    member = alice.locator("#member-list li").filter(has_text=bob_name)
    await expect(member.get_by_role("img", name="online")).to_be_visible()

    await bob.get_by_role("button", name="Log out").click()  # his only socket closes
    await expect(dot).to_have_count(0, timeout=15_000)  # after the grace of a few seconds
    await expect(member.get_by_role("img", name="online")).to_have_count(0)
    await log_in(bob, bob_name)
    await expect(dot).to_be_visible(timeout=5_000)
    await expect(member.get_by_role("img", name="online")).to_be_visible()
