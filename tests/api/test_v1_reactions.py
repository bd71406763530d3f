"""Reactions: PUT and DELETE /api/v1/messages/{id}/reactions/{emoji}, their rules, and the
`reactions` every message shows."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.api.helpers import assert_error
from tests.api.v1_helpers import Api, User, create_chat, history, ok, send, sign_up_many


def _path(message: int, emoji: str) -> str:
    return f"/api/v1/messages/{message}/reactions/{quote(emoji, safe='')}"


async def _react(api: Api, user: User, message: int, emoji: str, **headers: str) -> httpx.Response:
    return await api.http.put(_path(message, emoji), headers={**user.auth, **headers})


async def _unreact(api: Api, user: User, message: int, emoji: str) -> httpx.Response:
    return await api.http.delete(_path(message, emoji), headers=user.auth)


async def _world(api: Api) -> tuple[User, User, User, int, int]:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    chat = (await create_chat(api.http, alice, "team", [bob, carol]))["id"]
    message = (await send(api.http, alice, chat, "ship it?"))["id"]
    return alice, bob, carol, chat, message


def _totals(found: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return [(r["emoji"], r["count"], r["me"]) for r in found["reactions"]]


async def test_reactions_count_per_emoji_in_the_order_first_put(api: Api) -> None:
    alice, bob, carol, chat, message = await _world(api)
    first = ok(await _react(api, bob, message, "👍"))
    assert first == {
        "id": message,
        "chat": chat,
        "reactions": [{"emoji": "👍", "count": 1, "me": True}],
    }
    ok(await _react(api, carol, message, "🎉"))
    last = ok(await _react(api, carol, message, "👍"))
    assert _totals(last) == [("👍", 2, True), ("🎉", 1, True)]
    page = await history(api.http, alice, chat)
    assert _totals(page["messages"][0]) == [("👍", 2, False), ("🎉", 1, False)]
    page = await history(api.http, bob, chat)
    assert _totals(page["messages"][0]) == [("👍", 2, True), ("🎉", 1, False)]
    shown = ok(await api.http.get(f"/api/v1/chats/{chat}", headers=bob.auth))
    assert _totals(shown["messages"][0]) == [("👍", 2, True), ("🎉", 1, False)]


async def test_putting_twice_and_taking_off_an_absent_one_change_nothing(api: Api) -> None:
    _alice, bob, _carol, _chat, message = await _world(api)
    once = ok(await _react(api, bob, message, "👍"))
    before = await api.scalar("SELECT max(pos) FROM changes")
    assert ok(await _react(api, bob, message, "👍")) == once
    assert ok(await _unreact(api, bob, message, "🎉")) == once
    assert await api.scalar("SELECT max(pos) FROM changes") == before
    gone = ok(await _unreact(api, bob, message, "👍"))
    assert gone["reactions"] == []
    assert await api.scalar("SELECT max(pos) FROM changes") == before + 1
    assert ok(await _unreact(api, bob, message, "👍"))["reactions"] == []


async def test_every_kind_of_emoji_is_one_reaction(api: Api) -> None:
    _alice, bob, _carol, _chat, message = await _world(api)
    kinds = ["👍🏽", "👩‍💻", "🇫🇷", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👨‍👩‍👧‍👦"]
    for emoji in kinds:
        ok(await _react(api, bob, message, emoji))
    found = ok(await _react(api, bob, message, "❤"))
    # A less-qualified spelling is its fully-qualified emoji: ❤ and ❤️ never count apart.
    assert [r["emoji"] for r in found["reactions"]] == [*kinds, "❤️"]
    assert _totals(ok(await _react(api, bob, message, "❤️")))[-1] == ("❤️", 1, True)


async def test_what_is_not_one_emoji_is_refused(api: Api) -> None:
    _alice, bob, _carol, _chat, message = await _world(api)
    for bad in ("a", "ok", "👍👍", "🏻", "🇫", "1", " 👍", "👍 ", "\u200d", "😀x"):
        error = assert_error(await _react(api, bob, message, bad), 400)
        assert error["code"] == "invalid_emoji", bad
    # An empty segment is another route: not found.
    response = await api.http.put(f"/api/v1/messages/{message}/reactions/", headers=bob.auth)
    assert response.status_code in (404, 405)
    assert await api.scalar("SELECT count(*) FROM message_reactions") == 0


async def test_only_members_react(api: Api) -> None:
    alice, _bob, _carol, chat, message = await _world(api)
    mallory, moderator = await sign_up_many(api.http, "mallory", "mod")
    await api.make_moderator(moderator)
    ok(await _react(api, alice, message, "👍"))
    # A stranger learns nothing: the message is not theirs to see.
    error = assert_error(await _react(api, mallory, message, "👍"), 404)
    assert error["code"] == "message_not_found"
    assert_error(await _unreact(api, mallory, message, "👍"), 404)
    # A moderator reads every chat, reactions included, but reacts only in theirs.
    error = assert_error(await _react(api, moderator, message, "👍"), 403)
    assert error["code"] == "not_a_member"
    page = await history(api.http, moderator, chat)
    assert _totals(page["messages"][0]) == [("👍", 1, False)]
    # The stranger cannot read them either.
    assert_error(await api.http.get(f"/api/v1/chats/{chat}/messages", headers=mallory.auth), 404)
    found = ok(await api.http.get("/api/v1/search", params={"q": "ship"}, headers=mallory.auth))
    assert found["results"] == []


async def test_a_member_who_left_can_no_longer_react(api: Api) -> None:
    _alice, bob, _carol, chat, message = await _world(api)
    ok(await api.http.post(f"/api/v1/chats/{chat}/leave", headers=bob.auth), 204)
    assert_error(await _react(api, bob, message, "👍"), 404)


async def test_a_deleted_message_refuses_and_drops_its_reactions(api: Api) -> None:
    alice, bob, _carol, chat, message = await _world(api)
    ok(await _react(api, bob, message, "👍"))
    ok(await api.http.delete(f"/api/v1/messages/{message}", headers=alice.auth), 204)
    error = assert_error(await _react(api, bob, message, "🎉"), 409)
    assert error["code"] == "message_deleted"
    assert_error(await _unreact(api, bob, message, "👍"), 409)
    tombstone = (await history(api.http, bob, chat))["messages"][0]
    assert tombstone["deleted"] is True
    assert tombstone["reactions"] == []
    assert await api.scalar("SELECT count(*) FROM message_reactions") == 0


async def test_an_edit_keeps_the_reactions_and_says_which_are_mine(api: Api) -> None:
    alice, bob, _carol, _chat, message = await _world(api)
    ok(await _react(api, alice, message, "👍"))
    ok(await _react(api, bob, message, "🎉"))
    path = f"/api/v1/messages/{message}"
    edited = ok(await api.http.patch(path, json={"text": "shipped"}, headers=alice.auth))
    assert _totals(edited) == [("👍", 1, True), ("🎉", 1, False)]


async def test_deleting_the_chat_deletes_its_reactions(api: Api) -> None:
    alice, bob, _carol, chat, message = await _world(api)
    ok(await _react(api, bob, message, "👍"))
    ok(await api.http.delete(f"/api/v1/chats/{chat}", headers=alice.auth), 204)
    assert await api.scalar("SELECT count(*) FROM message_reactions") == 0


async def test_a_keyed_reaction_replays_its_answer(api: Api) -> None:
    _alice, bob, carol, _chat, message = await _world(api)
    first = await _react(api, bob, message, "👍", **{"Idempotency-Key": "r1"})
    ok(await _react(api, carol, message, "👍"))
    again = await _react(api, bob, message, "👍", **{"Idempotency-Key": "r1"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert _totals(first.json()) == [("👍", 1, True)]
