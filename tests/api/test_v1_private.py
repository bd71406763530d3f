"""API v1 private chats: one per pair of users, made by the first direct message, never more
members."""

from __future__ import annotations

import asyncio

from tests.api.helpers import assert_error
from tests.api.v1_helpers import (
    Api,
    list_chats,
    send,
    send_direct,
    show_chat,
    sign_up,
    sign_up_many,
)


async def test_first_direct_message_creates_a_private_chat_and_later_ones_reuse_it(
    api: Api,
) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    first = await send_direct(api.http, alice, bob.id, "hi bob")
    reply = await send_direct(api.http, bob, alice.id, "hi alice")
    again = await send_direct(api.http, alice, bob.id, "how are you")
    assert first["chat"] == reply["chat"] == again["chat"]
    assert [first["seq"], reply["seq"], again["seq"]] == [1, 2, 3]
    assert (first["author"], reply["author"]) == (alice.id, bob.id)
    chat = await show_chat(api.http, bob, first["chat"])
    assert chat["is_private"] is True
    assert (chat["name"], chat["owner"]) == (None, None)
    assert chat["users"] == sorted([alice.id, bob.id])
    assert [m["text"] for m in chat["messages"]] == ["hi bob", "hi alice", "how are you"]
    assert (chat["last_read_seq"], chat["unread_count"]) == (2, 1)
    listed = (await list_chats(api.http, alice))["chats"]
    assert [(c["id"], c["is_private"]) for c in listed] == [(first["chat"], True)]


async def test_each_pair_has_its_own_private_chat(api: Api) -> None:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    with_bob = await send_direct(api.http, alice, bob.id, "x")
    with_carol = await send_direct(api.http, alice, carol.id, "x")
    between_them = await send_direct(api.http, bob, carol.id, "x")
    assert len({with_bob["chat"], with_carol["chat"], between_them["chat"]}) == 3
    assert await api.scalar("SELECT count(*) FROM chats WHERE is_private") == 3


async def test_the_private_chat_takes_messages_through_the_chat_too(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await send_direct(api.http, alice, bob.id, "one"))["chat"]
    assert (await send(api.http, bob, chat, "two"))["seq"] == 2


async def test_twenty_concurrent_first_sends_make_exactly_one_private_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    directions = [(alice, bob), (bob, alice)] * 10
    sent = await asyncio.gather(
        *(send_direct(api.http, sender, to.id, "hi") for sender, to in directions)
    )
    assert len({m["chat"] for m in sent}) == 1
    assert sorted(m["seq"] for m in sent) == list(range(1, 21))
    assert await api.scalar("SELECT count(*) FROM chats") == 1
    assert await api.scalar("SELECT count(*) FROM chat_members") == 2


async def test_a_private_chat_cannot_gain_members_or_a_name(api: Api) -> None:
    alice, bob, carol, moderator = await sign_up_many(api.http, "alice", "bob", "carol", "mod")
    await api.make_moderator(moderator)
    chat = (await send_direct(api.http, alice, bob.id, "hi"))["chat"]
    changes = ({"users": [alice.id, bob.id, carol.id]}, {"name": "ours"})
    for user in (alice, moderator):
        for change in changes:
            response = await api.http.patch(f"/api/v1/chats/{chat}", json=change, headers=user.auth)
            assert assert_error(response, 409)["code"] == "chat_is_private", (user, change)
    assert (await show_chat(api.http, alice, chat))["users"] == sorted([alice.id, bob.id])


async def test_a_private_chat_cannot_be_left(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await send_direct(api.http, alice, bob.id, "hi"))["chat"]
    response = await api.http.post(f"/api/v1/chats/{chat}/leave", headers=alice.auth)
    assert assert_error(response, 409)["code"] == "chat_is_private"


async def test_a_private_chat_is_hidden_from_others(api: Api) -> None:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    chat = (await send_direct(api.http, alice, bob.id, "secret"))["chat"]
    response = await api.http.get(f"/api/v1/chats/{chat}", headers=carol.auth)
    assert assert_error(response, 404)["code"] == "chat_not_found"
    sent = await api.http.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "me too"}, headers=carol.auth
    )
    assert assert_error(sent, 404)["code"] == "chat_not_found"


async def test_direct_message_to_oneself_or_to_nobody_is_refused(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    to_self = await api.http.post(
        f"/api/v1/direct/{alice.id}/messages", json={"text": "hi"}, headers=alice.auth
    )
    assert assert_error(to_self, 400)["code"] == "invalid_user"
    to_nobody = await api.http.post(
        "/api/v1/direct/4242/messages", json={"text": "hi"}, headers=alice.auth
    )
    assert assert_error(to_nobody, 404, "4242")["code"] == "user_not_found"
    assert await api.scalar("SELECT count(*) FROM chats") == 0


async def test_a_blank_direct_message_creates_no_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    response = await api.http.post(
        f"/api/v1/direct/{bob.id}/messages", json={"text": " "}, headers=alice.auth
    )
    assert assert_error(response, 400)["code"] == "invalid_text"
    assert await api.scalar("SELECT count(*) FROM chats") == 0
