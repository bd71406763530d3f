"""The web client's polish (issue 17, items 5 to 7): what a demanding person notices in the first
minutes. Each test states the expected behaviour in its docstring, the implementer's spec, and
failed on the client before the fix.

Edit and Delete show only on hover or focus (7e): a test that clicks them hovers the message first,
and finds a button that may be hidden with `include_hidden=True` (Playwright leaves
`visibility: hidden` elements out of the accessibility tree, and so out of `get_by_role`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, Request, expect

from tests.e2e.server import ServerProcess
from tests.ui.conftest import (
    LIVE,
    PASSWORD,
    BrowserErrors,
    Open,
    account,
    alice_and_bob,
    chat_item,
    create_chat,
    message,
    messages,
    send,
    status,
    unique,
    watched_context,
)

pytestmark = pytest.mark.ui

# A sentence: a capital first, a full stop (or ! ?) last, on one line.
SENTENCE = re.compile(r"^[A-Z][^\n]*[.!?]$")
AGAIN = re.compile(r"\bagain\b", re.IGNORECASE)
UNREAD_TITLE = re.compile(r"^\(\d+\)")
NEW_BELOW = re.compile(r"\bnew messages?\b", re.IGNORECASE)
# The server's 400 for a refused input, as Chromium and the response watcher report it.
REFUSED = ("status of 400", "400: POST")


@asynccontextmanager
async def login_screen(
    chromium: Browser, server: ServerProcess, errors: BrowserErrors
) -> AsyncIterator[Page]:
    """The app's first screen, nobody logged in, in a browser context of its own."""
    context = await watched_context(chromium, server, errors)
    try:
        page = await context.new_page()
        await page.goto("/")
        yield page
    finally:
        await context.close()


def requests_to(page: Page, method: str, fragment: str) -> list[Request]:
    """Every `method` request whose URL contains `fragment` that the page makes from now on."""
    made: list[Request] = []
    page.on(
        "request",
        lambda r: made.append(r) if r.method == method and fragment in r.url else None,
    )
    return made


def own_button(item: Locator, name: str | re.Pattern[str]) -> Locator:
    """A button of a message, shown or not (7e hides them until hover or focus)."""
    return item.get_by_role("button", name=name, include_hidden=True)


# 5. Deleting a message


async def test_deleting_a_message_takes_a_second_click_that_lapses(person: Open) -> None:
    """Deleting a message asks first, the way deleting a chat does (a second click, no dialog).

    - The first click on a message's Delete (aria-label "Delete message") deletes nothing: no
      DELETE request is sent, and the other person still sees the message a second later.
    - The same button now asks: its visible text and its accessible name both contain "again"
      (e.g. "Click again to delete"; the chat's "Click again to confirm" will do). The
      aria-label must change with the text, or a screen reader still says "Delete message".
    - The question survives the list being redrawn: a message arriving meanwhile leaves the
      button asking (the state lives in the app's state, not only in the button's DOM).
    - The second click deletes: both people see "message deleted"; one DELETE in all.
    - Unanswered, the question lapses within 6 s (the chat's: 4 s): the button reads Delete
      again and nothing was deleted.

    tests/ui/test_web_client.py (two people; the moderator) and test_outbox.py click Delete once
    and must click twice after this.
    """
    alice, _, bob, bob_name = await alice_and_bob(person)
    deletes = requests_to(alice, "DELETE", "/messages/")
    await create_chat(alice, "second thoughts", bob_name)
    await send(alice, "keep me")
    await send(alice, "regret me")
    await chat_item(bob, "second thoughts").click()
    bob_texts = messages(bob).locator(".text")
    await expect(bob_texts).to_have_text(["keep me", "regret me"])

    doomed = message(alice, "regret me")
    await doomed.hover()
    await own_button(doomed, "Delete message").click()
    started = await alice.evaluate("performance.now()")
    asking = own_button(doomed, AGAIN)
    await expect(asking, "the first click asks to click again").to_have_count(1)
    await expect(asking).to_contain_text(AGAIN)

    await send(bob, "are you sure?")
    await expect(message(alice, "are you sure?")).to_be_visible(timeout=LIVE)
    await doomed.hover()
    await expect(asking).to_be_visible()
    elapsed = await alice.evaluate("performance.now()") - started
    await alice.wait_for_timeout(max(0, 1_000 - elapsed))
    await expect(bob_texts).to_have_text(["keep me", "regret me", "are you sure?"])
    assert deletes == [], "the first click sent a DELETE"

    await asking.click()
    after = ["keep me", "message deleted", "are you sure?"]
    await expect(messages(alice).locator(".text")).to_have_text(after)
    await expect(bob_texts).to_have_text(after, timeout=LIVE)
    assert len(deletes) == 1

    kept = message(alice, "keep me")
    await kept.hover()
    await own_button(kept, "Delete message").click()
    await expect(own_button(kept, AGAIN)).to_have_count(1)
    await kept.hover()
    await expect(own_button(kept, "Delete message")).to_be_visible(timeout=6_000)
    await expect(own_button(kept, AGAIN)).to_have_count(0)
    await expect(bob_texts).to_have_text(after)
    assert len(deletes) == 1


# 6. Rules said before, errors said as sentences


async def test_the_login_form_states_the_username_and_password_rules(
    chromium: Browser, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    """Before anything is submitted, the form says what the server will accept (core/users.py
    USERNAME_MAX, core/accounts.py PASSWORD_MIN/MAX):

    - under Password, visible text containing "8 to 1024 characters", and under Username,
      visible text containing "64 characters" (e.g. "Up to 64 characters."); each hint is the
      field's accessible description (aria-describedby), so a screen reader says it too;
    - the Username field takes what the server takes: 64 characters typed are all kept (today
      maxlength="32" cuts them, so a 33-to-64-character name made elsewhere cannot log in).
    """
    async with login_screen(chromium, web_server, errors) as page:
        username = page.get_by_label("Username", exact=True)
        password = page.get_by_label("Password", exact=True)
        rules = (
            (username, re.compile(r"\b64 characters")),
            (password, re.compile(r"\b8 to 1024 characters")),
        )
        for field, rule in rules:
            await expect(field).to_have_accessible_description(rule)
            ids = (await field.get_attribute("aria-describedby") or "").split()
            hints = page.locator(", ".join(f"#{i}" for i in ids)).filter(has_text=rule)
            await expect(hints).to_be_visible()
        long_name = "n" * 64
        await username.press_sequentially(long_name)
        await expect(username).to_have_value(long_name)


async def test_a_password_outside_the_rule_is_refused_in_the_page(
    chromium: Browser, web_server: ServerProcess, errors: BrowserErrors
) -> None:
    """Register with a password of 5 characters, then of 1025: each is refused in the page.

    - No request is sent (no POST to /api/v1/users or /api/v1/auth/tokens).
    - The form's alert (#login-error) says so in a sentence: a capital first, a full stop last,
      naming the password and the rule "8 to 1024 characters" (e.g. "Password must be 8 to
      1024 characters long.").
    - The Password field has the focus, to be typed again at once.
    - A password within the rule then registers as before.
    """
    errors.expect(*REFUSED)  # what the client before the fix provoked
    async with login_screen(chromium, web_server, errors) as page:
        sent = requests_to(page, "POST", "/api/v1/")
        username = page.get_by_label("Username", exact=True)
        password = page.get_by_label("Password", exact=True)
        alert = page.locator("#login-error")
        # The lookaheads first: a sentence may begin with "Password" itself.
        rule = re.compile(r"^(?=.*\b[Pp]assword\b)(?=.*\b8 to 1024 characters\b)[A-Z][^\n]*\.$")
        await username.fill(unique("erin"))
        for wrong in ("short", "x" * 1025):
            await password.fill(wrong)
            await page.get_by_role("button", name="Register", exact=True).click()
            await expect(alert).to_have_text(rule)
            await expect(password).to_be_focused()
            assert [r.url for r in sent] == [], "a password outside the rule was sent"
        await password.fill(PASSWORD)
        await page.get_by_role("button", name="Register", exact=True).click()
        await expect(status(page, "Connected")).to_be_visible()


async def test_errors_from_the_server_are_shown_as_sentences(
    person: Open, errors: BrowserErrors
) -> None:
    """Whatever a form shows when the server refuses is a sentence: a capital first, a full stop
    last (api.js `describe` passes the server's message on as it is: "name must not be empty").
    A client-side check that refuses first is fine, as long as it too speaks in a sentence, in
    the form's error line.

    - New group chat named "   " (blank): #sidebar-error is a sentence.
    - Renaming a group to "   " in Details: #details-error is a sentence.
    """
    errors.expect(*REFUSED)
    alice = await person(unique("alice"))
    await alice.get_by_text("New group chat").click()
    await alice.get_by_label("Name", exact=True).fill("   ")
    await alice.get_by_role("button", name="Create").click()
    await expect(alice.locator("#sidebar-error")).to_have_text(SENTENCE)

    await alice.get_by_label("Name", exact=True).fill("plans")
    await alice.get_by_role("button", name="Create").click()
    await expect(alice.get_by_role("heading", name="plans")).to_be_visible()
    await alice.get_by_role("button", name="Details").click()
    await alice.get_by_label("Chat name").fill("   ")
    await alice.get_by_role("button", name="Rename").click()
    await expect(alice.locator("#details-error")).to_have_text(SENTENCE)


# 7. Smaller things a person notices


async def test_the_tab_title_counts_unread_messages(person: Open) -> None:
    """The tab's title starts with "(N) " while N messages are unread across the person's
    chats (the sum of the chat list's unread badges), and has no "(N)" prefix when nothing is
    unread; it follows every change (a message arriving, a chat read) without a reload.
    """
    alice, _, bob, bob_name = await alice_and_bob(person)
    await expect(bob).not_to_have_title(UNREAD_TITLE)
    await create_chat(alice, "one", bob_name)
    await send(alice, "first")
    await send(alice, "second")
    await expect(chat_item(bob, "one").get_by_label("2 unread")).to_be_visible(timeout=LIVE)
    await expect(bob).to_have_title(re.compile(r"^\(2\) "))

    await create_chat(alice, "two", bob_name)
    await send(alice, "third")
    await expect(bob).to_have_title(re.compile(r"^\(3\) "), timeout=LIVE)

    await chat_item(bob, "one").click()
    await expect(bob).to_have_title(re.compile(r"^\(1\) "))
    await chat_item(bob, "two").click()
    await expect(bob).not_to_have_title(UNREAD_TITLE)
    await expect(alice).not_to_have_title(UNREAD_TITLE)


async def test_a_reload_reopens_the_chat_that_was_open(person: Open) -> None:
    """A reload keeps the session (as today) and the chat that was open: without a click, its
    name is the heading, its messages are listed, and its entry in the chat list is the current
    one (aria-current="true"). Here the open chat is not the newest, so opening the most recent
    chat does not pass.
    """
    alice, _, _, bob_name = await alice_and_bob(person)
    await create_chat(alice, "older", bob_name)
    await send(alice, "in the older one")
    await create_chat(alice, "newer", bob_name)
    await send(alice, "in the newer one")
    await chat_item(alice, "older").click()
    await expect(message(alice, "in the older one")).to_be_visible()

    await alice.reload()
    await expect(status(alice, "Connected")).to_be_visible()
    await expect(alice.get_by_role("heading", name="older")).to_be_visible()
    await expect(message(alice, "in the older one")).to_be_visible()
    await expect(chat_item(alice, "older")).to_have_attribute("aria-current", "true")


async def test_a_message_arriving_below_the_view_is_announced(
    person: Open, web_server: ServerProcess
) -> None:
    """Scrolled up in a long chat, a message arriving does not move the view; a button whose
    name contains "new message(s)" (e.g. "New messages below ↓") shows instead, above the
    composer. Clicking it scrolls to the newest message and it goes; scrolling to the bottom by
    hand makes it go too. At the bottom, a new message comes into view and no such button shows.
    """
    carol_name, dave_name = unique("carol"), unique("dave")
    async with httpx.AsyncClient(base_url=f"{web_server.url}/api/v1") as api:
        carol = await account(api, carol_name)
        await account(api, dave_name)
        found = await api.get("/users", params={"username": dave_name}, headers=carol)
        dave_id = found.json()["users"][0]["id"]
        chat = await api.post("/chats", json={"name": "long", "users": [dave_id]}, headers=carol)
        chat_id = chat.json()["id"]

        async def write(text: str) -> None:
            sent = await api.post(f"/chats/{chat_id}/messages", json={"text": text}, headers=carol)
            assert sent.status_code == 201, sent.text

        for n in range(1, 61):
            await write(f"message {n}")
        dave = await person(dave_name, register=False)
        await chat_item(dave, "long").click()
        await expect(message(dave, "message 60")).to_be_in_viewport()
        log = dave.get_by_role("log", name="Messages")
        below = dave.get_by_role("button", name=NEW_BELOW)

        async def scroll_up() -> None:
            await log.evaluate("log => { log.scrollTop = log.scrollHeight / 2; }")
            await expect(message(dave, "message 60")).not_to_be_in_viewport()

        await scroll_up()
        await write("fresh news")
        await expect(message(dave, "fresh news")).to_have_count(1, timeout=LIVE)
        await expect(below).to_be_visible()
        await expect(message(dave, "fresh news")).not_to_be_in_viewport()
        await below.click()
        await expect(message(dave, "fresh news")).to_be_in_viewport()
        await expect(below).to_be_hidden()

        await write("seen at once")
        await expect(message(dave, "seen at once")).to_be_in_viewport(timeout=LIVE)
        await expect(below).to_be_hidden()

        await scroll_up()
        await write("later news")
        await expect(below).to_be_visible(timeout=LIVE)
        await log.evaluate("log => { log.scrollTop = log.scrollHeight; }")
        await expect(message(dave, "later news")).to_be_in_viewport()
        await expect(below).to_be_hidden()


async def gap_above_composer(page: Page) -> float:
    """Pixels between the last message's bottom edge and the composer's top edge."""
    last = await messages(page).last.bounding_box()
    composer = await page.locator("#composer").bounding_box()
    assert last is not None
    assert composer is not None
    return composer["y"] - (last["y"] + last["height"])


async def test_a_few_messages_sit_just_above_the_composer(person: Open) -> None:
    """Like every chat app, a chat with few messages shows them at the bottom of the pane, just
    above the composer (the last one's bottom edge within 40 px of the composer's top), not at
    the top with an empty gap below; the same for the person who wrote them and the other.
    Scrolling and loading older pages of a long chat work as before.
    """
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "quiet", bob_name)
    await send(alice, "one")
    await send(alice, "two")
    await chat_item(bob, "quiet").click()
    await expect(messages(bob)).to_have_count(2)
    for page in (alice, bob):
        gap = await gap_above_composer(page)
        assert gap <= 40, f"{gap:.0f} px between the last message and the composer"


async def test_edit_and_delete_show_on_hover_or_focus_only(person: Open) -> None:
    """A message of one's own shows its Edit and Delete buttons (aria-labels "Edit message",
    "Delete message") only while it is hovered or has the focus within: otherwise they are
    hidden with `visibility: hidden` or `display: none` (not just opacity: Playwright, like a
    screen reader, counts an invisible-but-there button as visible).

    They stay reachable by keyboard: from the message log (which has the focus), Tab reaches the
    message itself (a tab stop, e.g. tabindex="0") and shows its buttons; at most one more Tab
    reaches "Edit message", and Enter on it opens the editor. Touch: tapping a message focuses
    it, which shows them.
    """
    alice, _, _, bob_name = await alice_and_bob(person)
    await create_chat(alice, "tidy", bob_name)
    await send(alice, "mine")
    own = message(alice, "mine")
    edit = own_button(own, "Edit message")
    delete = own_button(own, "Delete message")
    await alice.mouse.move(0, 0)
    await expect(edit).to_be_hidden()
    await expect(delete).to_be_hidden()

    await own.hover()
    await expect(edit).to_be_visible()
    await expect(delete).to_be_visible()
    await alice.get_by_label("Message", exact=True).hover()
    await expect(edit).to_be_hidden()
    await expect(delete).to_be_hidden()

    await alice.get_by_role("log", name="Messages").focus()
    await alice.keyboard.press("Tab")
    await expect(edit).to_be_visible()
    await expect(delete).to_be_visible()
    if not await edit.evaluate("button => button === document.activeElement"):
        await alice.keyboard.press("Tab")
    await expect(edit).to_be_focused()
    await alice.keyboard.press("Enter")
    await expect(alice.get_by_role("textbox", name="Edit message")).to_be_focused()


# What the MutationObserver records: every unread badge that is visible inside the open chat's
# entry, at any moment the chat list changes (observer callbacks run before the next paint).
WATCH_OPEN_CHAT_BADGE = """() => {
  window.openChatBadges = [];
  const list = document.getElementById("chat-list");
  const look = () => {
    const badge = list.querySelector('[aria-current="true"] .unread');
    if (badge && badge.checkVisibility()) window.openChatBadges.push(badge.textContent);
  };
  new MutationObserver(look).observe(
    list, { childList: true, subtree: true, characterData: true, attributes: true });
}"""


async def test_the_open_chat_never_shows_an_unread_badge(
    person: Open, web_server: ServerProcess
) -> None:
    """While a chat is open (and the page visible), messages arriving in it never show an
    unread badge on its entry in the chat list, not even for a moment before it is marked
    read; and it is still marked read on the server (unread_count 0 within 2 s), so the badge
    is not just hidden.
    """
    alice, _, bob, bob_name = await alice_and_bob(person)
    await create_chat(alice, "steady", bob_name)
    item = chat_item(bob, "steady")
    await item.click()
    await expect(bob.get_by_role("heading", name="steady")).to_be_visible()
    await expect(item).to_have_attribute("aria-current", "true")
    await bob.evaluate(WATCH_OPEN_CHAT_BADGE)

    texts = ["one", "two", "three"]
    for text in texts:
        await send(alice, text)
    await expect(messages(bob).locator(".text")).to_have_text(texts, timeout=LIVE)
    await bob.wait_for_timeout(500)  # past the read marker's delay
    assert await bob.evaluate("window.openChatBadges") == []

    token = await bob.evaluate("sessionStorage.getItem('chatd.token')")
    chat_id = await item.get_attribute("data-chat")
    async with httpx.AsyncClient(base_url=f"{web_server.url}/api/v1") as api:
        for _ in range(20):
            found = await api.get(f"/chats/{chat_id}", headers={"Authorization": f"Bearer {token}"})
            assert found.status_code == 200, found.text
            if found.json()["unread_count"] == 0:
                break
            await bob.wait_for_timeout(100)
        assert found.json()["unread_count"] == 0, "the open chat was not marked read"
