"""What issue 18 adds to the web client, as two people use it: search, replies, reactions,
mentions, "bob is typing…" and online dots. Each test failed before its feature was built."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.server import ServerProcess
from tests.ui.conftest import (
    Open,
    alice_and_bob,
    chat_item,
    create_chat,
    message,
    unique,
)

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
    await expect(alice.get_by_role("heading", name=name)).to_be_visible()
    found = message(alice, "🍍 a ripe Pineapple, at last")
    await expect(found).to_have_class(MARKED)
    assert await in_view(alice, "🍍 a ripe Pineapple, at last")
