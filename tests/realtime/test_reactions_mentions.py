"""Replies, reactions and mentions on the stream: `message.reactions` with each recipient's own
`me`, and `mentions_me` true only in the mentioned member's events, live and on replay."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.api.v1_helpers import User, create_chat, ok, send, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.streams import Stream, promote, replay


async def _react(http: httpx.AsyncClient, user: User, message: int, emoji: str) -> Any:
    path = f"/api/v1/messages/{message}/reactions/{quote(emoji, safe='')}"
    return ok(await http.put(path, headers=user.auth))


def _totals(frame: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return [(r["emoji"], r["count"], r["me"]) for r in frame["message"]["reactions"]]


async def test_reactions_reach_every_member_with_their_own_me(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, carol, mallory, moderator = await sign_up_many(
        http, "alice", "bob", "carol", "mallory", "mod"
    )
    await promote(server, "mod")
    chat = (await create_chat(http, alice, "team", [bob, carol]))["id"]
    streams = {
        name: await Stream.open(server.url, user)
        for name, user in (("alice", alice), ("bob", bob), ("carol", carol))
    }
    strangers = await Stream.open(server.url, mallory)
    moderators = await Stream.open(server.url, moderator)
    message = await send(http, alice, chat, "ship it?")
    for stream in streams.values():
        assert (await stream.next())["type"] == "message.created"
    assert (await moderators.next())["type"] == "message.created"

    await _react(http, bob, message["id"], "👍")
    await _react(http, carol, message["id"], "🎉")
    seen = {name: await stream.take(2) for name, stream in streams.items()}
    for frames in seen.values():
        assert [f["type"] for f in frames] == ["message.reactions"] * 2
        assert all(sorted(f["message"]) == ["chat", "id", "reactions"] for f in frames)
        assert frames[0]["message"]["id"] == message["id"]
        assert frames[0]["message"]["chat"] == chat
    assert _totals(seen["alice"][0]) == [("👍", 1, False)]
    assert _totals(seen["bob"][0]) == [("👍", 1, True)]
    assert _totals(seen["carol"][0]) == [("👍", 1, False)]
    assert _totals(seen["alice"][1]) == [("👍", 1, False), ("🎉", 1, False)]
    assert _totals(seen["bob"][1]) == [("👍", 1, True), ("🎉", 1, False)]
    assert _totals(seen["carol"][1]) == [("👍", 1, False), ("🎉", 1, True)]
    # A moderator hears every chat: as a bystander.
    watched = await moderators.take(2)
    assert _totals(watched[1]) == [("👍", 1, False), ("🎉", 1, False)]
    # Nothing changed, nothing sent; nor anything to a stranger.
    await _react(http, bob, message["id"], "👍")
    await streams["bob"].silence()
    await strangers.silence(0.1)

    # A replay renders each change as it is now, with the replaying user's own `me`.
    replayed = [f for f in await replay(server.url, carol) if f["type"] == "message.reactions"]
    assert [_totals(f) for f in replayed] == [[("👍", 1, False), ("🎉", 1, True)]] * 2
    for stream in (*streams.values(), strangers, moderators):
        await stream.close()


async def test_mentions_me_is_true_only_for_the_mentioned(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, carol = await sign_up_many(http, "alice", "bob", "carol")
    chat = (await create_chat(http, alice, "team", [bob, carol]))["id"]
    bobs = await Stream.open(server.url, bob)
    carols = await Stream.open(server.url, carol)
    alices = await Stream.open(server.url, alice)

    sent = await send(http, alice, chat, "@Bob can you look?")
    assert sent["mentions"] == [bob.id]
    assert sent["mentions_me"] is False
    to_bob, to_carol, to_alice = await bobs.next(), await carols.next(), await alices.next()
    assert to_bob["message"]["mentions_me"] is True
    assert to_carol["message"]["mentions_me"] is False
    assert to_alice["message"]["mentions_me"] is False
    assert to_bob["message"]["mentions"] == to_carol["message"]["mentions"] == [bob.id]

    path = f"/api/v1/messages/{sent['id']}"
    ok(await http.patch(path, json={"text": "@carol can you look?"}, headers=alice.auth))
    edited_bob, edited_carol = await bobs.next(), await carols.next()
    assert edited_bob["type"] == edited_carol["type"] == "message.edited"
    assert edited_bob["message"]["mentions_me"] is False
    assert edited_carol["message"]["mentions_me"] is True
    assert (await alices.next())["message"]["mentions"] == [carol.id]

    # Chat events show each member their own count of unread mentions.
    ok(await http.patch(f"/api/v1/chats/{chat}", json={"name": "team b"}, headers=alice.auth))
    assert (await bobs.next())["chat"]["mention_count"] == 0
    assert (await carols.next())["chat"]["mention_count"] == 1
    assert (await alices.next())["chat"]["mention_count"] == 0

    replayed = [f for f in await replay(server.url, carol) if f["type"].startswith("message.")]
    assert [f["message"]["mentions_me"] for f in replayed] == [True, True]
    for stream in (bobs, carols, alices):
        await stream.close()


async def test_a_reply_shows_its_quote_on_the_stream(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "team", [bob]))["id"]
    asked = await send(http, alice, chat, "lunch?")
    alices = await Stream.open(server.url, alice)
    body = {"text": "yes", "reply_to": asked["id"]}
    ok(await http.post(f"/api/v1/chats/{chat}/messages", json=body, headers=bob.auth), 201)
    frame = await alices.next()
    assert frame["message"]["reply_to"] == {
        "id": asked["id"],
        "author": alice.id,
        "excerpt": "lunch?",
        "deleted": False,
    }
    await alices.close()
