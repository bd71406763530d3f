"""The web client at /, as people use it: Debian's Chromium, one browser context per person, the
real server process.

Every test fails on a console error, an uncaught exception or a failed request that it did not
provoke on purpose (tests/ui/conftest.py). People register through the page; a moderator is
made with the CLI, as an operator would; a long history is written through the API.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.server import CHATD, ServerProcess
from tests.ui.conftest import (
    LIVE,
    PASSWORD,
    BrowserErrors,
    Open,
    account,
    alice_and_bob,
    chat_item,
    create_chat,
    delete_message,
    edit_message,
    log_in,
    message,
    messages,
    send,
    status,
    unique,
)

pytestmark = pytest.mark.ui

# Where the README's screenshots come from: CHATD_SCREENSHOTS=docs/screenshots make test.
SCREENSHOTS = os.environ.get("CHATD_SCREENSHOTS")


async def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


# Two people, live


async def test_two_people_chat_live_with_pending_sends_edits_and_deletes(
    person: Open, errors: BrowserErrors
) -> None:
    alice, alice_name, bob, bob_name = await alice_and_bob(person)
    keys: list[str | None] = []
    alice.on(
        "request",
        lambda r: (
            keys.append(r.headers.get("idempotency-key"))
            if r.method == "POST" and r.url.endswith("/messages")
            else None
        ),
    )

    await create_chat(alice, "lunch", bob_name)
    # Bob is told of the new chat over the stream.
    await expect(chat_item(bob, "lunch")).to_be_visible(timeout=LIVE)

    await send(alice, "hello bob")
    item = chat_item(bob, "lunch")
    await expect(item).to_contain_text(f"{alice_name}: hello bob", timeout=LIVE)
    await expect(item.get_by_label("1 unread")).to_be_visible()
    await expect(messages(alice).and_(alice.locator(".pending"))).to_have_count(0)

    await item.click()
    await expect(message(bob, "hello bob")).to_be_visible()
    await expect(item.get_by_label("1 unread")).to_have_count(0)  # opening it marked it read

    # Enter sends, Shift+Enter is a new line.
    composer = bob.get_by_label("Message", exact=True)
    await composer.type("line one")
    await composer.press("Shift+Enter")
    await composer.type("line two")
    await composer.press("Enter")
    await expect(message(alice, "line one\nline two")).to_be_visible(timeout=LIVE)
    await expect(composer).to_have_value("")

    await edit_message(alice, "hello bob")
    editor = alice.get_by_role("textbox", name="Edit message")
    await editor.fill("hello, bob!")
    await editor.press("Enter")
    edited = message(bob, "hello, bob!")
    await expect(edited).to_be_visible(timeout=LIVE)
    await expect(edited).to_contain_text("(edited)")
    # Bob cannot edit or delete what Alice wrote.
    await expect(edited.get_by_role("button")).to_have_count(0)

    await delete_message(alice, "hello, bob!")
    await expect(messages(bob).first.locator(".text")).to_have_text("message deleted", timeout=LIVE)
    await expect(messages(bob)).to_have_count(2)

    assert len(keys) == 1
    assert keys[0], "every send carries an Idempotency-Key"
    await screenshot(alice, "chat")


async def test_an_edit_in_progress_survives_messages_arriving(person: Open) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "busy", bob_name)
    await send(alice, "first draft")
    await edit_message(alice, "first draft")
    editor = alice.get_by_role("textbox", name="Edit message")
    await editor.press("End")
    await editor.type(", then more")
    await chat_item(bob, "busy").click()
    await send(bob, "an interruption")
    await expect(message(alice, "an interruption")).to_be_visible(timeout=LIVE)
    await expect(editor).to_be_focused()
    await editor.type(" and the end")
    await editor.press("Enter")
    final = "first draft, then more and the end"
    await expect(message(bob, final)).to_be_visible(timeout=LIVE)


async def test_the_chat_list_orders_by_activity_and_counts_unread(person: Open) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    for name in ("first", "second", "third"):
        await create_chat(alice, name, bob_name)
    names = bob.get_by_role("list", name="Your chats").locator(".chat-name")
    await expect(names).to_have_text(["third", "second", "first"], timeout=LIVE)

    await chat_item(alice, "first").click()
    await send(alice, "back to the first")
    await send(alice, "and again")
    await expect(names).to_have_text(["first", "third", "second"], timeout=LIVE)
    await expect(chat_item(bob, "first").get_by_label("2 unread")).to_be_visible()
    await screenshot(bob, "chat-list")


# Away and back


async def test_a_person_who_was_offline_catches_up_without_a_reload(
    person: Open, errors: BrowserErrors
) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "away", bob_name)
    await send(alice, "before")
    await chat_item(bob, "away").click()
    await expect(message(bob, "before")).to_be_visible()

    errors.expect("ERR_INTERNET_DISCONNECTED", "WebSocket")
    await bob.context.set_offline(True)
    await expect(status(bob, "Reconnecting")).to_be_visible()
    for text in ("one", "two", "three"):
        await send(alice, text)
    await edit_message(alice, "two")
    await alice.get_by_role("textbox", name="Edit message").fill("two, edited")
    await alice.get_by_role("textbox", name="Edit message").press("Enter")
    await expect(message(alice, "two, edited")).to_be_visible()

    await bob.context.set_offline(False)
    await expect(status(bob, "Connected")).to_be_visible()
    texts = messages(bob).locator(".text")
    await expect(texts).to_have_text(["before", "one", "two, edited", "three"])
    await expect(message(bob, "two, edited")).to_contain_text("(edited)")

    # A reload keeps the session and the history.
    await bob.reload()
    await expect(status(bob, "Connected")).to_be_visible()
    await chat_item(bob, "away").click()
    await expect(texts).to_have_text(["before", "one", "two, edited", "three"])


async def test_a_send_while_offline_is_delivered_once_when_back(
    person: Open, errors: BrowserErrors
) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "later", bob_name)
    errors.expect("ERR_INTERNET_DISCONNECTED", "WebSocket")
    await alice.context.set_offline(True)
    composer = alice.get_by_label("Message", exact=True)
    await composer.fill("sent from a tunnel")
    await composer.press("Enter")
    pending = message(alice, "sent from a tunnel")
    await expect(pending).to_contain_text("retrying")
    await alice.context.set_offline(False)
    await expect(alice.locator(".pending")).to_have_count(0, timeout=15_000)
    await chat_item(bob, "later").click()
    await expect(messages(bob).locator(".text")).to_have_text(["sent from a tunnel"])
    await expect(messages(alice).locator(".text")).to_have_text(["sent from a tunnel"])


async def test_scrolling_up_loads_older_pages_of_a_long_history(
    person: Open, web_server: ServerProcess
) -> None:
    carol_name, dave_name = unique("carol"), unique("dave")
    async with httpx.AsyncClient(base_url=f"{web_server.url}/api/v1") as api:
        carol = await account(api, carol_name)
        await account(api, dave_name)
        dave_id = (await api.get("/users", params={"username": dave_name}, headers=carol)).json()
        chat = await api.post(
            "/chats", json={"name": "archive", "users": [dave_id["users"][0]["id"]]}, headers=carol
        )
        chat_id = chat.json()["id"]
        for n in range(1, 501):
            sent = await api.post(
                f"/chats/{chat_id}/messages", json={"text": f"message {n}"}, headers=carol
            )
            assert sent.status_code == 201, sent.text
    page = await person(dave_name, register=False)
    await chat_item(page, "archive").click()
    log = page.get_by_role("log", name="Messages")
    shown = messages(page)
    await expect(shown).to_have_count(50)
    seen = [50]
    while seen[-1] < 500:
        await log.evaluate("log => { log.scrollTop = 0; }")
        await expect(shown).not_to_have_count(seen[-1])
        seen.append(await shown.count())
    assert seen == list(range(50, 501, 50)), seen
    texts = await shown.locator(".text").all_text_contents()
    assert texts == [f"message {n}" for n in range(1, 501)]


# Chats: private, group management


async def test_a_private_chat_is_started_by_username(person: Open) -> None:
    alice, alice_name, bob, bob_name = await alice_and_bob(person)
    await alice.get_by_label("Private chat with").fill(bob_name)
    await alice.get_by_role("button", name="Open").click()
    await expect(alice.get_by_role("heading", name=bob_name)).to_be_visible()
    await send(alice, "psst")
    await expect(chat_item(bob, alice_name)).to_contain_text("psst", timeout=LIVE)
    await chat_item(bob, alice_name).click()
    await expect(message(bob, "psst")).to_be_visible()
    # Opening it again finds the same chat.
    await alice.get_by_label("Private chat with").fill(bob_name)
    await alice.get_by_role("button", name="Open").click()
    await expect(message(alice, "psst")).to_be_visible()
    chats = alice.get_by_role("list", name="Your chats").locator(".chat-item")
    await expect(chats).to_have_count(1)


async def test_an_owner_renames_adds_and_removes_members_and_a_member_leaves(
    person: Open,
) -> None:
    alice_name, bob_name, carol_name = unique("alice"), unique("bob"), unique("carol")
    bob = await person(bob_name)
    carol = await person(carol_name)
    alice = await person(alice_name)
    await create_chat(alice, "team", bob_name)
    await alice.get_by_role("button", name="Details").click()

    await alice.get_by_label("Chat name").fill("team two")
    await alice.get_by_role("button", name="Rename").click()
    await expect(chat_item(bob, "team two")).to_be_visible(timeout=LIVE)

    await alice.get_by_label("Add a member").fill(carol_name)
    await alice.get_by_role("button", name="Add", exact=True).click()
    await expect(chat_item(carol, "team two")).to_be_visible(timeout=LIVE)
    await alice.get_by_role("button", name=f"Remove {carol_name}").click()
    await expect(chat_item(carol, "team two")).to_have_count(0, timeout=LIVE)

    await chat_item(bob, "team two").click()
    await bob.get_by_role("button", name="Details").click()
    leave = bob.get_by_role("button", name="Leave chat")
    await leave.click()
    await bob.get_by_role("button", name="Click again to confirm").click()
    await expect(chat_item(bob, "team two")).to_have_count(0)
    members = alice.locator("#member-list li")
    await expect(members).to_have_count(1, timeout=LIVE)
    await expect(members).to_contain_text(alice_name)


# Moderation


async def test_a_moderator_sees_every_chat_deletes_messages_and_blocks_a_user(
    person: Open, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    alice_name, bob_name, mod_name = unique("alice"), unique("bob"), unique("mod")
    bob = await person(bob_name)
    alice = await person(alice_name)
    await create_chat(alice, "private matters", bob_name)
    await chat_item(bob, "private matters").click()
    await send(bob, "rude words")

    async with httpx.AsyncClient(base_url=f"{web_server.url}/api/v1") as api:
        await account(api, mod_name)
    promote = [str(CHATD), "users", "promote", mod_name, "--database-url"]
    await asyncio.to_thread(
        subprocess.run, [*promote, web_server.database_url], check=True, capture_output=True
    )
    mod = await person(mod_name, register=False)
    await expect(mod.get_by_text(f"{mod_name} (moderator)")).to_be_visible()
    await expect(chat_item(mod, "private matters")).to_have_count(0)
    await mod.get_by_label("All chats (moderator)").check()
    await chat_item(mod, "private matters").click()
    await delete_message(mod, "rude words")
    await chat_item(alice, "private matters").click()
    await expect(messages(alice).locator(".text")).to_have_text(["message deleted"])

    errors.expect("403", "401")
    await mod.get_by_text("Moderation").click()
    await mod.get_by_label("User", exact=True).fill(bob_name)
    await mod.get_by_role("button", name="Block", exact=True).click()
    await expect(mod.get_by_text(f"{bob_name} is blocked.")).to_be_visible()
    await expect(bob.get_by_role("alert")).to_have_text(
        "Your account has been blocked by a moderator."
    )
    await expect(status(bob, "Blocked")).to_be_visible()

    await bob.get_by_role("button", name="Log out").click()
    await bob.get_by_label("Username", exact=True).fill(bob_name)
    await bob.get_by_label("Password", exact=True).fill(PASSWORD)
    await bob.get_by_role("button", name="Log in").click()
    blocked = "This account is blocked by a moderator."
    await expect(bob.locator("#login-error")).to_have_text(blocked)

    await mod.get_by_role("button", name="Unblock").click()
    await expect(mod.get_by_text(f"{bob_name} is unblocked.")).to_be_visible()
    await bob.get_by_role("button", name="Log in").click()
    await expect(status(bob, "Connected")).to_be_visible()

    # A moderator deletes any chat; its members see it go.
    await mod.get_by_role("button", name="Details").click()
    await mod.get_by_role("button", name="Delete chat").click()
    await mod.get_by_role("button", name="Click again to confirm").click()
    await expect(chat_item(alice, "private matters")).to_have_count(0, timeout=LIVE)
    await expect(chat_item(bob, "private matters")).to_have_count(0, timeout=LIVE)
    await expect(alice.get_by_text("This chat was deleted.")).to_be_visible()

    # Logging out forgets the moderator's view: the next person on this page sees their own.
    await create_chat(alice, "after", bob_name)
    await mod.get_by_role("button", name="Log out").click()
    await expect(mod.get_by_label("Username", exact=True)).to_have_value("")
    await log_in(mod, bob_name)
    await expect(chat_item(mod, "after")).to_be_visible()
    await expect(mod.get_by_label("All chats (moderator)")).to_be_hidden()
    await expect(mod.locator("#sidebar-error")).to_be_hidden()


async def test_a_moderators_all_chats_view_is_live_and_their_own_list_stays_theirs(
    person: Open, web_server: ServerProcess
) -> None:
    alice_name, bob_name, mod_name = unique("alice"), unique("bob"), unique("mod")
    bob = await person(bob_name)
    alice = await person(alice_name)
    async with httpx.AsyncClient(base_url=f"{web_server.url}/api/v1") as api:
        await account(api, mod_name)
    promote = [str(CHATD), "users", "promote", mod_name, "--database-url"]
    await asyncio.to_thread(
        subprocess.run, [*promote, web_server.database_url], check=True, capture_output=True
    )
    mod = await person(mod_name, register=False)
    await expect(status(mod, "Connected")).to_be_visible()

    # The moderator's stream carries every chat, but "my chats" lists only theirs.
    await create_chat(alice, "elsewhere", bob_name)
    await send(alice, "hello there")
    await chat_item(bob, "elsewhere").click()
    await expect(message(bob, "hello there")).to_be_visible(timeout=LIVE)
    await mod.wait_for_timeout(500)
    await expect(chat_item(mod, "elsewhere")).to_have_count(0)

    # "All chats" is live: a chat made now, and its messages, show without a reload.
    await mod.get_by_label("All chats (moderator)").check()
    await expect(chat_item(mod, "elsewhere")).to_be_visible()
    await create_chat(alice, "brand new", bob_name)
    await expect(chat_item(mod, "brand new")).to_be_visible(timeout=LIVE)
    await send(alice, "fresh news")
    await expect(chat_item(mod, "brand new")).to_contain_text("fresh news", timeout=LIVE)


# Logging in


async def test_login_errors_are_shown_inline_and_log_out_revokes_the_token(
    chromium: Browser, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    errors.expect("401", "409", "429")
    context = await chromium.new_context(base_url=web_server.url)
    context.set_default_timeout(10_000)
    errors.watch(context)
    try:
        page = await context.new_page()
        await page.goto("/")
        await screenshot(page, "login")
        name = unique("erin")
        await log_in(page, name, register=True)
        token = await page.evaluate("sessionStorage.getItem('chatd.token')")
        await page.get_by_role("button", name="Log out").click()
        async with httpx.AsyncClient(base_url=web_server.url) as http:
            me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 401

        error = page.locator("#login-error")
        await page.get_by_label("Username", exact=True).fill(name)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Register").click()
        await expect(error).to_have_text("That username is taken.")

        await page.get_by_label("Password", exact=True).fill("not the password")
        for _ in range(5):  # CHATD_RATE_LIMIT_LOGIN_FAILURES: 5 in 15 minutes
            await page.get_by_role("button", name="Log in").click()
            await expect(error).to_have_text("Wrong username or password.")
            await page.evaluate("document.getElementById('login-error').textContent = ''")
        await page.get_by_role("button", name="Log in").click()
        await expect(error).to_have_text(re.compile(r"Too many attempts\. Try again in \d+ s"))
    finally:
        await context.close()


# Safety, keyboard, small screens


async def test_a_message_is_always_text(person: Open) -> None:
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "<b>bold</b>", bob_name)
    tricks = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "&lt;b&gt; & \"'"]
    for text in tricks:
        await send(alice, text)
    await chat_item(bob, "<b>bold</b>").click()
    await expect(messages(bob).locator(".text")).to_have_text(tricks, timeout=LIVE)
    for page in (alice, bob):
        await expect(page.locator("#messages img, #messages script, #chat-list b")).to_have_count(0)
    await expect(chat_item(bob, "<b>bold</b>")).to_contain_text("&lt;b&gt; & \"'")


async def test_the_page_forbids_inline_code_framing_and_sniffing(
    web_server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=web_server.url) as http:
        for path in ("/", "/app/main.js", "/app/api.js", "/app/stream.js", "/app/app.css"):
            response = await http.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy, path
            assert "style-src 'self'" in policy, path
            assert "frame-ancestors 'none'" in policy, path
            assert "unsafe" not in policy, path
            assert response.headers["x-content-type-options"] == "nosniff", path
        page = (await http.get("/")).text
    # Nothing inline that the policy would refuse (the browser tests would see it refused).
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    for inline in (r"<style\b", r"\sstyle\s*=", r"\son[a-z]+\s*=", r"javascript:"):
        assert not re.search(inline, page, re.IGNORECASE), inline


async def test_the_first_screen_is_small(web_server: ServerProcess) -> None:
    """Every file of the client (the page loads them all), as stored and as sent gzipped."""
    static = Path(__file__).parents[2] / "src" / "chatd" / "web" / "static"
    paths = ["/", *(f"/app/{f.name}" for f in sorted(static.iterdir()) if f.name != "index.html")]
    stored, sent = {}, {}
    async with httpx.AsyncClient(base_url=web_server.url) as http:
        for path in paths:
            async with http.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as reply:
                assert reply.status_code == 200, path
                sent[path] = sum([len(chunk) async for chunk in reply.aiter_raw()])
            stored[path] = len(
                (await http.get(path, headers={"Accept-Encoding": "identity"})).content
            )
    # Issue 18 (search, replies, reactions, mentions, typing, online dots) took the client from
    # 92 KB stored / 32 KB sent to 116 / 40: the limits moved with it, with a few KB to spare,
    # so that the next feature has to argue for its bytes again.
    assert sum(stored.values()) < 120_000, stored
    assert sum(sent.values()) < 42_000, sent


async def test_the_app_works_with_the_keyboard_alone(person: Open) -> None:
    alice, alice_name, _, bob_name = await alice_and_bob(person)
    await create_chat(alice, "keys", bob_name)
    await alice.get_by_role("button", name="Log out").click()
    # The login form takes focus; Tab moves to the password; Enter logs in.
    await expect(alice.get_by_label("Username", exact=True)).to_be_focused()
    await alice.keyboard.type(alice_name)
    await alice.keyboard.press("Tab")
    await alice.keyboard.type(PASSWORD)
    await alice.keyboard.press("Enter")
    await expect(status(alice, "Connected")).to_be_visible()
    await chat_item(alice, "keys").focus()
    await alice.keyboard.press("Enter")
    composer = alice.get_by_label("Message", exact=True)
    await expect(composer).to_be_focused()
    await alice.keyboard.type("typed, not clicked")
    await alice.keyboard.press("Enter")
    await expect(message(alice, "typed, not clicked")).to_be_visible()
    # Every control has a name a screen reader can say.
    unnamed = await alice.evaluate(
        """() => [...document.querySelectorAll('button, input, textarea')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unnamed == []


async def test_on_a_phone_one_pane_shows_at_a_time(person: Open) -> None:
    bob_name = unique("bob")
    await person(bob_name)
    phone = await person(unique("alice"), viewport={"width": 360, "height": 740})
    await create_chat(phone, "small", bob_name)
    sidebar = phone.get_by_role("navigation", name="Chats")
    await expect(sidebar).to_be_hidden()
    await send(phone, "from my phone")
    await screenshot(phone, "phone")
    await phone.get_by_role("button", name="Back to chats").click()
    await expect(sidebar).to_be_visible()
    await expect(chat_item(phone, "small")).to_be_visible()
    overflow = await phone.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360
