"""API v1 moderation: moderators see and delete any chat or message, and block users."""

from __future__ import annotations

from dataclasses import replace

from chatd.core import writes
from tests.api.helpers import assert_error, get_messages
from tests.api.v1_helpers import (
    PASSWORD,
    Api,
    User,
    block,
    create_chat,
    history,
    list_chats,
    log_in,
    ok,
    send,
    send_direct,
    show_chat,
    sign_up,
    sign_up_many,
    unblock,
)


async def _moderator(api: Api, name: str = "mod") -> User:
    moderator = await sign_up(api.http, name)
    await api.make_moderator(moderator)
    return moderator


async def test_a_moderator_role_shows_on_the_account(api: Api) -> None:
    moderator = await _moderator(api)
    assert ok(await api.http.get("/api/v1/me", headers=moderator.auth))["role"] == "moderator"


async def test_a_role_set_in_the_database_applies_to_existing_tokens(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    await api.store.write(None, writes.do_set_role, alice.id, "moderator")
    ok(await api.http.get("/api/v1/chats", params={"scope": "all"}, headers=alice.auth))


# Every chat


async def test_moderators_list_every_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await _moderator(api)
    group = (await create_chat(api.http, alice, "group"))["id"]
    direct = (await send_direct(api.http, alice, bob.id, "hi"))["chat"]
    own = (await create_chat(api.http, moderator, "mods"))["id"]
    everything = await list_chats(api.http, moderator, scope="all")
    assert [c["id"] for c in everything["chats"]] == [own, direct, group]
    foreign = everything["chats"][1]
    assert (foreign["last_seq"], foreign["last_read_seq"], foreign["unread_count"]) == (1, 0, 0)
    mine = await list_chats(api.http, moderator)
    assert [c["id"] for c in mine["chats"]] == [own]


async def test_listing_every_chat_pages_with_cursors(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    made = [(await create_chat(api.http, alice, f"chat {n}"))["id"] for n in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        query = {"scope": "all", "limit": 2} | ({} if cursor is None else {"cursor": cursor})
        page = await list_chats(api.http, moderator, **query)
        seen += [c["id"] for c in page["chats"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


async def test_others_may_not_list_every_chat(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.get("/api/v1/chats", params={"scope": "all"}, headers=alice.auth)
    assert assert_error(response, 403)["code"] == "not_moderator"


async def test_moderators_read_any_chat_without_joining_it(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await _moderator(api)
    chat = (await send_direct(api.http, alice, bob.id, "secret"))["chat"]
    shown = await show_chat(api.http, moderator, chat)
    assert [m["text"] for m in shown["messages"]] == ["secret"]
    assert moderator.id not in shown["users"]
    assert [m["text"] for m in (await history(api.http, moderator, chat))["messages"]] == ["secret"]


async def test_moderators_do_not_post_leave_or_mark_read_in_chats_they_are_not_in(
    api: Api,
) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    chat = (await create_chat(api.http, alice, "general"))["id"]
    await send(api.http, alice, chat, "hi")
    sent = await api.http.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "mod here"}, headers=moderator.auth
    )
    assert assert_error(sent, 403)["code"] == "not_a_member"
    left = await api.http.post(f"/api/v1/chats/{chat}/leave", headers=moderator.auth)
    assert assert_error(left, 403)["code"] == "not_a_member"
    read = await api.http.post(
        f"/api/v1/chats/{chat}/read", json={"seq": 1}, headers=moderator.auth
    )
    assert assert_error(read, 403)["code"] == "not_a_member"


async def test_moderators_change_any_group_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await _moderator(api)
    chat = (await create_chat(api.http, alice, "general"))["id"]
    changed = ok(
        await api.http.patch(
            f"/api/v1/chats/{chat}",
            json={"name": "renamed", "users": [alice.id, bob.id]},
            headers=moderator.auth,
        )
    )
    users = sorted([alice.id, bob.id])
    assert changed == {**changed, "name": "renamed", "users": users, "owner": alice.id}


async def test_moderators_delete_any_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await _moderator(api)
    group = (await create_chat(api.http, alice, "group", [bob]))["id"]
    direct = (await send_direct(api.http, alice, bob.id, "hi"))["chat"]
    await send(api.http, bob, group, "hi")
    for chat in (group, direct):
        ok(await api.http.delete(f"/api/v1/chats/{chat}", headers=moderator.auth), 204)
        for table, column in (
            ("chats", "id"),
            ("chat_members", "chat_id"),
            ("messages", "chat_id"),
        ):
            query = f"SELECT count(*) FROM {table} WHERE {column} = :chat"
            assert await api.scalar(query, chat=chat) == 0, table
    assert (await list_chats(api.http, alice))["chats"] == []


async def test_moderators_delete_any_message(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    chat = (await create_chat(api.http, alice, "general"))["id"]
    sent = await send(api.http, alice, chat, "spam")
    ok(await api.http.delete(f"/api/v1/messages/{sent['id']}", headers=moderator.auth), 204)
    shown = (await history(api.http, alice, chat))["messages"]
    assert [(m["seq"], m["text"], m["deleted"]) for m in shown] == [(1, None, True)]
    # Deleting is not editing: a moderator may not put words in a user's mouth.
    response = await api.http.patch(
        f"/api/v1/messages/{sent['id']}", json={"text": "x"}, headers=moderator.auth
    )
    assert assert_error(response, 403)["code"] == "not_author"


# Blocking


async def test_blocking_stops_the_users_tokens_at_once(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    ok(await api.http.get("/api/v1/me", headers=alice.auth))
    await block(api.http, moderator, alice)
    response = await api.http.get("/api/v1/me", headers=alice.auth)
    assert assert_error(response, 401)["code"] == "invalid_token"
    blocked_at = await api.scalar("SELECT blocked_at FROM users WHERE id = :id", id=alice.id)
    assert blocked_at is not None


async def test_a_blocked_user_cannot_log_in(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    await block(api.http, moderator, alice)
    response = await api.http.post(
        "/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD}
    )
    assert assert_error(response, 403)["code"] == "user_blocked"
    wrong = await api.http.post(
        "/api/v1/auth/tokens", json={"username": "alice", "password": "wrong password"}
    )
    # Only the right password learns that the account is blocked.
    assert assert_error(wrong, 401)["code"] == "invalid_credentials"


async def test_a_blocked_user_cannot_send_through_the_avito_api(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    chat = (await create_chat(api.http, alice, "general"))["id"]
    await block(api.http, moderator, alice)
    response = await api.http.post(
        "/messages/add", json={"chat": chat, "author": alice.id, "text": "hi"}
    )
    assert assert_error(response, 403)["code"] == "user_blocked"


async def test_a_blocked_users_messages_stay_visible(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await _moderator(api)
    chat = (await create_chat(api.http, alice, "general", [bob]))["id"]
    sent = await send(api.http, alice, chat, "before the block")
    await block(api.http, moderator, alice)
    assert (await history(api.http, bob, chat))["messages"] == [sent]
    assert [m["id"] for m in await get_messages(api.http, chat)] == [sent["id"]]
    assert (await show_chat(api.http, bob, chat))["users"] == sorted([alice.id, bob.id])


async def test_unblocking_restores_login_but_not_the_old_tokens(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    await block(api.http, moderator, alice)
    await unblock(api.http, moderator, alice)
    # Blocking revoked every token: one stolen before the block must not come back.
    assert (await api.http.get("/api/v1/me", headers=alice.auth)).status_code == 401
    back = replace(alice, token=await log_in(api.http, "alice"))
    me = ok(await api.http.get("/api/v1/me", headers=back.auth))
    assert (me["id"], me["blocked"]) == (alice.id, False)
    chat = (await create_chat(api.http, back, "back"))["id"]
    await send(api.http, back, chat, "I'm back")


async def test_blocking_and_unblocking_are_idempotent(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    moderator = await _moderator(api)
    await unblock(api.http, moderator, alice)
    await block(api.http, moderator, alice)
    await block(api.http, moderator, alice)
    await unblock(api.http, moderator, alice)
    await log_in(api.http, "alice")


async def test_only_moderators_block(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    for method in ("PUT", "DELETE"):
        response = await api.http.request(
            method, f"/api/v1/users/{bob.id}/block", headers=alice.auth
        )
        assert assert_error(response, 403)["code"] == "not_moderator"
    await log_in(api.http, "bob")


async def test_moderators_cannot_block_themselves_or_unknown_users(api: Api) -> None:
    moderator = await _moderator(api)
    itself = await api.http.put(f"/api/v1/users/{moderator.id}/block", headers=moderator.auth)
    assert assert_error(itself, 403)["code"] == "cannot_block_self"
    unknown = await api.http.put("/api/v1/users/4242/block", headers=moderator.auth)
    assert assert_error(unknown, 404, "4242")["code"] == "user_not_found"


async def test_a_moderator_may_block_another_moderator(api: Api) -> None:
    one = await _moderator(api, "one")
    other = await _moderator(api, "other")
    await block(api.http, one, other)
    response = await api.http.get("/api/v1/me", headers=other.auth)
    assert assert_error(response, 401)["code"] == "invalid_token"
