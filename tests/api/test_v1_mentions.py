"""Mentions: `@username` names a member of the chat at the send or edit; messages show
`mentions` and `mentions_me`, chats the viewer's unread `mention_count`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tests.api.v1_helpers import (
    Api,
    User,
    create_chat,
    history,
    list_chats,
    ok,
    send,
    show_chat,
    sign_up_many,
)


async def _world(api: Api) -> tuple[User, User, User, int]:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    chat = (await create_chat(api.http, alice, "team", [bob, carol]))["id"]
    return alice, bob, carol, chat


async def _mention_count(api: Api, viewer: User, chat: int) -> int:
    listed = await list_chats(api.http, viewer)
    (entry,) = [c for c in listed["chats"] if c["id"] == chat]
    shown = await show_chat(api.http, viewer, chat)
    assert shown["mention_count"] == entry["mention_count"]
    count: int = entry["mention_count"]
    return count


async def _edit(api: Api, author: User, message: int, text: str) -> Any:
    path = f"/api/v1/messages/{message}"
    return ok(await api.http.patch(path, json={"text": text}, headers=author.auth))


async def test_a_mention_names_members_in_order_ignoring_case(api: Api) -> None:
    alice, bob, carol, chat = await _world(api)
    await sign_up_many(api.http, "mallory")
    sent = await send(api.http, alice, chat, "@CAROL and @bob, also @mallory and @nobody, @bob")
    # mallory is no member: mentioning her mentions nobody.
    assert sent["mentions"] == [carol.id, bob.id]
    assert sent["mentions_me"] is False
    for viewer, me in ((alice, False), (bob, True), (carol, True)):
        (shown,) = (await history(api.http, viewer, chat))["messages"]
        assert shown["mentions"] == [carol.id, bob.id]
        assert shown["mentions_me"] is me
    plain = await send(api.http, bob, chat, "no one here, mail me at bob@example.org")
    assert plain["mentions"] == []


async def test_mention_count_is_the_unread_messages_mentioning_me(api: Api) -> None:
    alice, bob, carol, chat = await _world(api)
    await send(api.http, alice, chat, "@bob one")
    second = await send(api.http, alice, chat, "@bob two")
    await send(api.http, alice, chat, "@carol three")
    assert await _mention_count(api, bob, chat) == 2
    assert await _mention_count(api, carol, chat) == 1
    assert await _mention_count(api, alice, chat) == 0
    read = {"seq": second["seq"] - 1}
    marker = ok(await api.http.post(f"/api/v1/chats/{chat}/read", json=read, headers=bob.auth))
    assert marker["mention_count"] == 1
    assert await _mention_count(api, bob, chat) == 1
    # The author's own send moves their marker: a self-mention is read already.
    await send(api.http, bob, chat, "note to @bob")
    assert await _mention_count(api, bob, chat) == 0


async def test_an_edit_finds_the_mentions_again(api: Api) -> None:
    alice, bob, carol, chat = await _world(api)
    sent = await send(api.http, alice, chat, "@bob look")
    edited = await _edit(api, alice, sent["id"], "@carol look, @alice too")
    assert edited["mentions"] == [carol.id, alice.id]
    assert edited["mentions_me"] is True
    assert await _mention_count(api, bob, chat) == 0
    assert await _mention_count(api, carol, chat) == 1
    rows = await api.rows("SELECT user_id FROM message_mentions ORDER BY user_id")
    assert [row[0] for row in rows] == sorted([carol.id, alice.id])
    cleared = await _edit(api, alice, sent["id"], "never mind")
    assert cleared["mentions"] == []
    assert await api.rows("SELECT * FROM message_mentions") == []


async def test_a_deleted_message_mentions_nobody(api: Api) -> None:
    alice, bob, _carol, chat = await _world(api)
    sent = await send(api.http, alice, chat, "@bob look")
    ok(await api.http.delete(f"/api/v1/messages/{sent['id']}", headers=alice.auth), 204)
    (tombstone,) = (await history(api.http, bob, chat))["messages"]
    assert tombstone["mentions"] == []
    assert tombstone["mentions_me"] is False
    assert await _mention_count(api, bob, chat) == 0


async def test_membership_is_taken_at_the_send(api: Api) -> None:
    alice, bob, carol, chat = await _world(api)
    (dave,) = await sign_up_many(api.http, "dave")
    before = await send(api.http, alice, chat, "@dave are you here?")
    assert before["mentions"] == []
    users = {"users": [alice.id, bob.id, carol.id, dave.id]}
    ok(await api.http.patch(f"/api/v1/chats/{chat}", json=users, headers=alice.auth))
    after = await send(api.http, alice, chat, "@dave welcome")
    assert after["mentions"] == [dave.id]
    # An edit resolves against the members at the edit.
    assert (await _edit(api, alice, before["id"], "@dave are you here?"))["mentions"] == [dave.id]


async def test_a_moderator_outside_the_chat_sees_mentions_but_counts_none(api: Api) -> None:
    alice, bob, _carol, chat = await _world(api)
    (moderator,) = await sign_up_many(api.http, "mod")
    await api.make_moderator(moderator)
    await send(api.http, alice, chat, "@bob @mod")
    (shown,) = (await history(api.http, moderator, chat))["messages"]
    assert shown["mentions"] == [bob.id]  # the moderator is no member: not mentioned
    everything = await list_chats(api.http, moderator, scope="all")
    (entry,) = [c for c in everything["chats"] if c["id"] == chat]
    assert entry["mention_count"] == 0


async def test_direct_sends_mention_too(api: Api) -> None:
    alice, bob, _carol, _chat = await _world(api)
    path = f"/api/v1/direct/{bob.id}/messages"
    sent = ok(await api.http.post(path, json={"text": "hey @bob"}, headers=alice.auth), 201)
    assert sent["mentions"] == [bob.id]
    assert await _mention_count(api, bob, sent["chat"]) == 1


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


async def test_a_send_without_an_at_sign_looks_up_no_names(api: Api) -> None:
    alice, bob, _carol, chat = await _world(api)
    with _statements() as plain:
        await send(api.http, alice, chat, "nothing to resolve")
    assert not [s for s in plain if "username_key" in s]
    with _statements() as named:
        sent = await send(api.http, alice, chat, "@bob something to resolve")
    assert [s for s in named if "username_key" in s]
    assert sent["mentions"] == [bob.id]
