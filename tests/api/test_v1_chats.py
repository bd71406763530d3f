"""API v1 chats: creating, listing with cursors, showing, changing, leaving, deleting, and read
markers with unread counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, parse_timestamp
from tests.api.v1_helpers import (
    CHAT_KEYS,
    MESSAGE_KEYS,
    Api,
    User,
    create_chat,
    list_chats,
    ok,
    send,
    show_chat,
    sign_up,
    sign_up_many,
)


async def _walk(api: Api, viewer: User, limit: int, **query: Any) -> list[list[int]]:
    """Every page of the viewer's chat list, as lists of chat ids."""
    pages: list[list[int]] = []
    cursor = None
    while True:
        params = {"limit": limit, **query} | ({} if cursor is None else {"cursor": cursor})
        page = await list_chats(api.http, viewer, **params)
        pages.append([c["id"] for c in page["chats"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


# Creating


async def test_create_chat_makes_the_creator_a_member_and_the_owner(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await create_chat(api.http, alice, "  project x ", [bob])
    assert sorted(chat) == CHAT_KEYS
    assert chat["name"] == "project x"
    assert chat["owner"] == alice.id
    assert chat["users"] == sorted([alice.id, bob.id])
    assert chat["is_private"] is False
    assert chat["last_message"] is None
    assert (chat["last_seq"], chat["last_read_seq"], chat["unread_count"]) == (0, 0, 0)
    assert chat["last_message_at"] == chat["created_at"]
    parse_timestamp(chat["created_at"])


async def test_create_chat_alone_and_with_duplicates(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    assert (await create_chat(api.http, alice, "alone"))["users"] == [alice.id]
    twice = await create_chat(api.http, alice, "twice", [bob, bob, alice])
    assert twice["users"] == sorted([alice.id, bob.id])


async def test_create_chat_with_unknown_users_names_them(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.post(
        "/api/v1/chats", json={"name": "x", "users": [4242, 4343]}, headers=alice.auth
    )
    assert assert_error(response, 404, "4242", "4343")["code"] == "user_not_found"


@pytest.mark.parametrize("name", ["", "  ", "x" * 129, "a\x00b"])
async def test_create_chat_with_a_bad_name_is_refused(api: Api, name: str) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.post("/api/v1/chats", json={"name": name}, headers=alice.auth)
    assert assert_error(response, 400)["code"] == "invalid_name"


# Listing


async def test_chats_are_listed_by_latest_activity_with_members_and_last_message(
    api: Api,
) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    old = await create_chat(api.http, alice, "old", [bob])
    quiet = await create_chat(api.http, alice, "quiet")
    await create_chat(api.http, bob, "not alice's")
    sent = await send(api.http, bob, old["id"], "hello " * 100)
    found = (await list_chats(api.http, alice))["chats"]
    assert [c["id"] for c in found] == [old["id"], quiet["id"]]
    first = found[0]
    assert sorted(first) == CHAT_KEYS
    assert first["users"] == sorted([alice.id, bob.id])
    assert first["last_seq"] == 1
    assert first["unread_count"] == 1
    assert first["last_message_at"] == sent["created_at"]
    assert first["last_message"] == {
        "id": sent["id"],
        "seq": 1,
        "author": bob.id,
        "excerpt": ("hello " * 100)[:200],
        "created_at": sent["created_at"],
        "edited": False,
        "deleted": False,
    }
    assert found[1]["last_message"] is None


async def test_last_message_follows_an_edit_and_a_delete(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "general"))["id"]
    await send(api.http, alice, chat, "first")
    sent = await send(api.http, alice, chat, "typo")
    ok(
        await api.http.patch(
            f"/api/v1/messages/{sent['id']}", json={"text": "fixed"}, headers=alice.auth
        )
    )
    last = (await list_chats(api.http, alice))["chats"][0]["last_message"]
    assert last == {**last, "id": sent["id"], "excerpt": "fixed", "edited": True, "deleted": False}
    ok(await api.http.delete(f"/api/v1/messages/{sent['id']}", headers=alice.auth), 204)
    last = (await list_chats(api.http, alice))["chats"][0]["last_message"]
    assert last == {**last, "id": sent["id"], "seq": 2, "excerpt": None, "deleted": True}
    assert (await show_chat(api.http, alice, chat))["last_message"] == last


async def test_chat_list_pages_default_to_20_and_walk_every_chat_once(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    made = [(await create_chat(api.http, alice, f"chat {n}"))["id"] for n in range(25)]
    first = await list_chats(api.http, alice)
    assert len(first["chats"]) == 20
    assert first["next_cursor"] is not None
    pages = await _walk(api, alice, limit=7)
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    walked = [chat for page in pages for chat in page]
    assert walked == made[::-1]


async def test_chat_list_limit_is_1_to_100(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    for limit in (1, 100):
        ok(await api.http.get("/api/v1/chats", params={"limit": limit}, headers=alice.auth))
    for limit in (0, 101, -1):
        response = await api.http.get("/api/v1/chats", params={"limit": limit}, headers=alice.auth)
        assert assert_error(response, 400, "limit")["code"] == "invalid_field"


async def test_a_cursor_the_server_never_gave_is_refused(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.get("/api/v1/chats", params={"cursor": "!!"}, headers=alice.auth)
    assert assert_error(response, 400)["code"] == "invalid_cursor"


async def test_chat_list_walk_repeats_no_chat_while_messages_arrive(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    made = [(await create_chat(api.http, alice, f"chat {n}"))["id"] for n in range(12)]
    seen: list[int] = []
    page = await list_chats(api.http, alice, limit=4)
    seen += [c["id"] for c in page["chats"]]
    # A chat already seen becomes the most active: it must not come round again.
    await send(api.http, alice, seen[-1], "bump")
    while page["next_cursor"] is not None:
        page = await list_chats(api.http, alice, limit=4, cursor=page["next_cursor"])
        seen += [c["id"] for c in page["chats"]]
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


# Showing one


async def test_show_chat_has_the_latest_messages_oldest_first(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "general"))["id"]
    for n in range(1, 26):
        await send(api.http, alice, chat, f"m{n}")
    shown = await show_chat(api.http, alice, chat)
    assert sorted(shown) == sorted([*CHAT_KEYS, "messages", "before_seq"])
    assert [m["seq"] for m in shown["messages"]] == list(range(6, 26))
    assert [m["text"] for m in shown["messages"]] == [f"m{n}" for n in range(6, 26)]
    assert sorted(shown["messages"][0]) == MESSAGE_KEYS
    assert shown["before_seq"] == 6
    latest = await show_chat(api.http, alice, chat, limit=3)
    assert [m["seq"] for m in latest["messages"]] == [23, 24, 25]
    whole = await show_chat(api.http, alice, chat, limit=100)
    assert len(whole["messages"]) == 25
    assert whole["before_seq"] is None
    response = await api.http.get(
        f"/api/v1/chats/{chat}", params={"limit": 101}, headers=alice.auth
    )
    assert assert_error(response, 400, "limit")["code"] == "invalid_field"


async def test_show_empty_chat(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "general"))["id"]
    shown = await show_chat(api.http, alice, chat)
    assert (shown["messages"], shown["before_seq"]) == ([], None)


async def test_unknown_and_foreign_chats_are_not_found_alike(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    foreign = (await create_chat(api.http, bob, "bob's"))["id"]
    unknown = await api.http.get("/api/v1/chats/4242", headers=alice.auth)
    hidden = await api.http.get(f"/api/v1/chats/{foreign}", headers=alice.auth)
    assert assert_error(unknown, 404)["code"] == "chat_not_found"
    assert assert_error(hidden, 404)["code"] == "chat_not_found"


# Changing


async def test_owner_renames_and_sets_members(api: Api) -> None:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    chat = (await create_chat(api.http, alice, "old", [bob]))["id"]
    changed = ok(
        await api.http.patch(
            f"/api/v1/chats/{chat}",
            json={"name": "new", "users": [alice.id, carol.id]},
            headers=alice.auth,
        )
    )
    users = sorted([alice.id, carol.id])
    assert changed == {**changed, "name": "new", "users": users, "owner": alice.id}
    gone = await api.http.get(f"/api/v1/chats/{chat}", headers=bob.auth)
    assert assert_error(gone, 404)["code"] == "chat_not_found"
    assert (await show_chat(api.http, carol, chat))["name"] == "new"


async def test_rename_alone_keeps_the_members(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "old", [bob]))["id"]
    changed = ok(
        await api.http.patch(f"/api/v1/chats/{chat}", json={"name": "new"}, headers=alice.auth)
    )
    assert changed["users"] == sorted([alice.id, bob.id])


async def test_members_that_are_not_the_owner_cannot_change_a_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "old", [bob]))["id"]
    response = await api.http.patch(
        f"/api/v1/chats/{chat}", json={"name": "mine"}, headers=bob.auth
    )
    assert assert_error(response, 403)["code"] == "not_owner"


async def test_the_owner_must_stay_among_the_members(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "old", [bob]))["id"]
    for users in ([bob.id], []):
        response = await api.http.patch(
            f"/api/v1/chats/{chat}", json={"users": users}, headers=alice.auth
        )
        assert assert_error(response, 400)["code"] == "invalid_users"
    assert (await show_chat(api.http, alice, chat))["users"] == sorted([alice.id, bob.id])


# Leaving and deleting


async def test_a_member_leaves(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "general", [bob]))["id"]
    ok(await api.http.post(f"/api/v1/chats/{chat}/leave", headers=bob.auth), 204)
    assert (await show_chat(api.http, alice, chat))["users"] == [alice.id]
    assert (await list_chats(api.http, bob))["chats"] == []
    again = await api.http.post(f"/api/v1/chats/{chat}/leave", headers=bob.auth)
    assert assert_error(again, 404)["code"] == "chat_not_found"


async def test_an_owner_leaving_hands_the_chat_to_the_longest_standing_member(api: Api) -> None:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    chat = (await create_chat(api.http, alice, "general", [carol]))["id"]
    # Bob joins later, though his id is lower than Carol's.
    ok(
        await api.http.patch(
            f"/api/v1/chats/{chat}",
            json={"users": [alice.id, bob.id, carol.id]},
            headers=alice.auth,
        )
    )
    ok(await api.http.post(f"/api/v1/chats/{chat}/leave", headers=alice.auth), 204)
    shown = await show_chat(api.http, bob, chat)
    assert shown["owner"] == carol.id
    assert shown["users"] == sorted([bob.id, carol.id])
    ok(await api.http.patch(f"/api/v1/chats/{chat}", json={"name": "carol's"}, headers=carol.auth))


async def test_the_last_one_out_deletes_the_chat(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "general"))["id"]
    await send(api.http, alice, chat, "bye")
    ok(await api.http.post(f"/api/v1/chats/{chat}/leave", headers=alice.auth), 204)
    assert await api.scalar("SELECT count(*) FROM chats WHERE id = :id", id=chat) == 0
    assert await api.scalar("SELECT count(*) FROM messages WHERE chat_id = :id", id=chat) == 0
    # The name is free again.
    await create_chat(api.http, alice, "general")


async def test_deleting_a_chat_removes_its_messages_and_members(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "doomed", [bob]))["id"]
    kept = (await create_chat(api.http, alice, "kept", [bob]))["id"]
    for n in range(3):
        await send(api.http, bob, chat, f"m{n}")
        await send(api.http, bob, kept, f"m{n}")
    ok(await api.http.delete(f"/api/v1/chats/{chat}", headers=alice.auth), 204)
    for table, column in (("chats", "id"), ("chat_members", "chat_id"), ("messages", "chat_id")):
        query = f"SELECT count(*) FROM {table} WHERE {column} = :chat"
        assert await api.scalar(query, chat=chat) == 0, table
    assert await api.scalar("SELECT count(*) FROM messages WHERE chat_id = :c", c=kept) == 3
    for user in (alice, bob):
        response = await api.http.get(f"/api/v1/chats/{chat}", headers=user.auth)
        assert assert_error(response, 404)["code"] == "chat_not_found"
    assert [c["id"] for c in (await list_chats(api.http, bob))["chats"]] == [kept]


async def test_only_the_owner_deletes_a_chat(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "general", [bob]))["id"]
    response = await api.http.delete(f"/api/v1/chats/{chat}", headers=bob.auth)
    assert assert_error(response, 403)["code"] == "not_owner"


# Read markers


async def test_read_markers_drive_the_unread_count(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "general", [bob]))["id"]
    for n in range(1, 6):
        await send(api.http, bob, chat, f"m{n}")
    shown = await show_chat(api.http, alice, chat)
    assert (shown["last_seq"], shown["last_read_seq"], shown["unread_count"]) == (5, 0, 5)

    async def read(seq: int) -> tuple[int, int]:
        response = await api.http.post(
            f"/api/v1/chats/{chat}/read", json={"seq": seq}, headers=alice.auth
        )
        marked = ok(response)
        assert sorted(marked) == CHAT_KEYS
        return marked["last_read_seq"], marked["unread_count"]

    assert await read(3) == (3, 2)
    assert await read(1) == (3, 2)  # markers only move forward
    assert await read(99) == (5, 0)  # and never past the last message
    await send(api.http, bob, chat, "m6")
    assert (await list_chats(api.http, alice))["chats"][0]["unread_count"] == 1


async def test_own_sends_count_as_read(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = (await create_chat(api.http, alice, "general", [bob]))["id"]
    await send(api.http, bob, chat, "m1")
    await send(api.http, bob, chat, "m2")
    await send(api.http, alice, chat, "m3")
    mine = (await list_chats(api.http, alice))["chats"][0]
    assert (mine["last_read_seq"], mine["unread_count"]) == (3, 0)
    bobs = (await list_chats(api.http, bob))["chats"][0]
    assert (bobs["last_read_seq"], bobs["unread_count"]) == (2, 1)


async def test_a_negative_read_marker_is_refused(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "general"))["id"]
    response = await api.http.post(
        f"/api/v1/chats/{chat}/read", json={"seq": -1}, headers=alice.auth
    )
    assert assert_error(response, 400, "seq")["code"] == "invalid_field"
