"""API v1 messages: gap-free seqs, history pages by seq, edits, tombstones, and the Avito API
seeing the same history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.helpers import assert_error, get_messages, parse_timestamp
from tests.api.v1_helpers import (
    MESSAGE_KEYS,
    Api,
    User,
    create_chat,
    history,
    ok,
    send,
    sign_up,
    sign_up_many,
)


async def _chat(api: Api, *others: User, owner: User) -> int:
    return int((await create_chat(api.http, owner, "general", list(others)))["id"])


async def _edit(api: Api, user: User, message: int, text: str) -> Any:
    return await api.http.patch(
        f"/api/v1/messages/{message}", json={"text": text}, headers=user.auth
    )


async def _delete(api: Api, user: User, message: int) -> Any:
    return await api.http.delete(f"/api/v1/messages/{message}", headers=user.auth)


# Sending


async def test_send_returns_the_message_with_the_next_seq(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    sent = [await send(api.http, alice, chat, f"m{n}") for n in range(1, 4)]
    assert [m["seq"] for m in sent] == [1, 2, 3]
    first = sent[0]
    assert sorted(first) == MESSAGE_KEYS
    assert (first["chat"], first["author"], first["text"]) == (chat, alice.id, "m1")
    assert (first["edited_at"], first["deleted"]) == (None, False)
    parse_timestamp(first["created_at"])
    assert len({m["id"] for m in sent}) == 3


async def test_seqs_count_per_chat(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    one = (await create_chat(api.http, alice, "one"))["id"]
    two = (await create_chat(api.http, alice, "two"))["id"]
    seqs = [(await send(api.http, alice, chat, "x"))["seq"] for chat in (one, two, one, two, one)]
    assert seqs == [1, 1, 2, 2, 3]


async def test_text_is_kept_byte_exact(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    text = "  two\nlines 🙂\t "
    sent = await send(api.http, alice, chat, text)
    assert sent["text"] == text
    assert (await history(api.http, alice, chat))["messages"][0]["text"] == text


@pytest.mark.parametrize("text", ["", "   ", "a\x00b", "x" * 10_001])
async def test_bad_texts_are_refused(api: Api, text: str) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    response = await api.http.post(
        f"/api/v1/chats/{chat}/messages", json={"text": text}, headers=alice.auth
    )
    assert assert_error(response, 400)["code"] == "invalid_text"


async def test_sending_to_an_unknown_or_foreign_chat_is_not_found(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    foreign = await _chat(api, owner=bob)
    for chat in (foreign, 4242):
        response = await api.http.post(
            f"/api/v1/chats/{chat}/messages", json={"text": "hi"}, headers=alice.auth
        )
        assert assert_error(response, 404)["code"] == "chat_not_found"


async def test_fifty_concurrent_senders_get_seqs_1_to_50(api: Api) -> None:
    users = await sign_up_many(api.http, *(f"user{n}" for n in range(5)))
    chat = await _chat(api, *users[1:], owner=users[0])
    sent = await asyncio.gather(*(send(api.http, users[n % 5], chat, f"m{n}") for n in range(50)))
    assert sorted(m["seq"] for m in sent) == list(range(1, 51))
    assert len({m["id"] for m in sent}) == 50
    page = await history(api.http, users[0], chat, limit=100)
    assert [m["seq"] for m in page["messages"]] == list(range(1, 51))
    # Seq, id and time grow together.
    assert [m["id"] for m in page["messages"]] == sorted(m["id"] for m in sent)
    times = [m["created_at"] for m in page["messages"]]
    assert times == sorted(times)
    rows = await api.rows("SELECT seq FROM messages WHERE chat_id = :c ORDER BY seq", c=chat)
    assert [row[0] for row in rows] == list(range(1, 51))


# History pages


async def test_history_pages_hold_the_newest_messages_oldest_first(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    for n in range(1, 31):
        await send(api.http, alice, chat, f"m{n}")
    page = await history(api.http, alice, chat)
    assert sorted(page) == ["after_seq", "before_seq", "messages"]
    assert [m["seq"] for m in page["messages"]] == list(range(11, 31))
    assert (page["before_seq"], page["after_seq"]) == (11, 30)
    older = await history(api.http, alice, chat, before_seq=11, limit=5)
    assert [m["seq"] for m in older["messages"]] == [6, 7, 8, 9, 10]
    newer = await history(api.http, alice, chat, after_seq=3, limit=4)
    assert [m["seq"] for m in newer["messages"]] == [4, 5, 6, 7]
    between = await history(api.http, alice, chat, after_seq=3, before_seq=6)
    assert [m["seq"] for m in between["messages"]] == [4, 5]
    assert [m["text"] for m in between["messages"]] == ["m4", "m5"]


async def test_history_of_an_empty_chat_and_past_the_end(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    assert await history(api.http, alice, chat) == {
        "messages": [],
        "before_seq": None,
        "after_seq": 0,
    }
    await send(api.http, alice, chat, "m1")
    assert await history(api.http, alice, chat, after_seq=1) == {
        "messages": [],
        "before_seq": None,
        "after_seq": 1,
    }
    first = await history(api.http, alice, chat, before_seq=2)
    assert ([m["seq"] for m in first["messages"]], first["before_seq"]) == ([1], None)


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"before_seq": -1}, {"after_seq": -1}, {"limit": "x"}],
    ids=["limit0", "limit101", "before-1", "after-1", "limit-text"],
)
async def test_bad_history_queries_are_refused(api: Api, query: dict[str, Any]) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    response = await api.http.get(
        f"/api/v1/chats/{chat}/messages", params=query, headers=alice.auth
    )
    assert assert_error(response, 400, next(iter(query)))["code"] == "invalid_field"


async def test_history_limit_can_be_100(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    assert (await history(api.http, alice, chat, limit=100))["messages"] == []


async def test_walking_back_and_forward_covers_everything_once_while_messages_arrive(
    api: Api,
) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, bob, owner=alice)
    for n in range(1, 24):
        await send(api.http, bob, chat, f"m{n}")

    # Backward from the newest page; new messages keep arriving meanwhile.
    page = await history(api.http, alice, chat, limit=5)
    newest = page["after_seq"]
    backward = [m["seq"] for m in page["messages"]]
    while page["before_seq"] is not None:
        await send(api.http, bob, chat, "late")
        page = await history(api.http, alice, chat, limit=5, before_seq=page["before_seq"])
        backward = [m["seq"] for m in page["messages"]] + backward
    assert backward == list(range(1, newest + 1))

    # Forward from where the first page ended: every message that arrived since, once.
    after = newest
    forward: list[int] = []
    while True:
        page = await history(api.http, alice, chat, limit=2, after_seq=after)
        if not page["messages"]:
            break
        forward += [m["seq"] for m in page["messages"]]
        after = page["after_seq"]
        if len(forward) == 2:
            await send(api.http, bob, chat, "later still")
    total = (await history(api.http, alice, chat, limit=1))["after_seq"]
    assert forward == list(range(newest + 1, total + 1))
    assert total == 23 + 4 + 1  # one late message per older page, one later still


async def test_walking_forward_from_the_start_covers_everything_once(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    for n in range(1, 11):
        await send(api.http, alice, chat, f"m{n}")
    seen: list[int] = []
    after = 0
    while True:
        page = await history(api.http, alice, chat, limit=3, after_seq=after)
        if not page["messages"]:
            break
        seen += [m["seq"] for m in page["messages"]]
        after = page["after_seq"]
        if len(seen) < 12:
            await send(api.http, alice, chat, "more")
    # 10 at the start, and one more after each of the first three pages.
    assert seen == list(range(1, 14))


# Editing and deleting


async def test_the_author_edits_a_message(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, bob, owner=alice)
    sent = await send(api.http, alice, chat, "typo")
    edited = ok(await _edit(api, alice, sent["id"], "fixed"))
    assert sorted(edited) == MESSAGE_KEYS
    assert (edited["id"], edited["seq"], edited["text"]) == (sent["id"], 1, "fixed")
    assert edited["created_at"] == sent["created_at"]
    assert parse_timestamp(edited["edited_at"]) >= parse_timestamp(sent["created_at"])
    seen = (await history(api.http, bob, chat))["messages"]
    assert seen == [edited]


async def test_others_cannot_edit_a_message(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, bob, owner=alice)
    sent = await send(api.http, bob, chat, "bob's")
    assert assert_error(await _edit(api, alice, sent["id"], "mine"), 403)["code"] == "not_author"
    assert (await history(api.http, bob, chat))["messages"][0]["text"] == "bob's"


async def test_editing_with_a_bad_text_or_an_unknown_id_is_refused(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    sent = await send(api.http, alice, chat, "hi")
    assert assert_error(await _edit(api, alice, sent["id"], " "), 400)["code"] == "invalid_text"
    assert assert_error(await _edit(api, alice, 4242, "x"), 404)["code"] == "message_not_found"


async def test_the_author_deletes_a_message_leaving_a_tombstone(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, bob, owner=alice)
    first = await send(api.http, bob, chat, "one")
    doomed = await send(api.http, bob, chat, "two")
    await send(api.http, bob, chat, "three")
    ok(await _delete(api, bob, doomed["id"]), 204)
    seen = (await history(api.http, alice, chat))["messages"]
    assert [m["seq"] for m in seen] == [1, 2, 3]
    tombstone = seen[1]
    assert tombstone == {**doomed, "text": None, "deleted": True}
    assert seen[0] == first
    assert (await send(api.http, bob, chat, "four"))["seq"] == 4
    stored = await api.scalar("SELECT text FROM messages WHERE id = :id", id=doomed["id"])
    assert stored == ""


async def test_a_deleted_message_cannot_be_edited(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    sent = await send(api.http, alice, chat, "hi")
    ok(await _delete(api, alice, sent["id"]), 204)
    assert assert_error(await _edit(api, alice, sent["id"], "x"), 409)["code"] == "message_deleted"


async def test_members_cannot_delete_others_messages_not_even_the_owner(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, bob, owner=alice)
    sent = await send(api.http, bob, chat, "bob's")
    assert assert_error(await _delete(api, alice, sent["id"]), 403)["code"] == "not_author"


async def test_messages_of_foreign_chats_are_not_found(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, owner=bob)
    sent = await send(api.http, bob, chat, "private")
    for response in (
        await _edit(api, alice, sent["id"], "x"),
        await _delete(api, alice, sent["id"]),
    ):
        assert assert_error(response, 404)["code"] == "message_not_found"
    history_response = await api.http.get(f"/api/v1/chats/{chat}/messages", headers=alice.auth)
    assert assert_error(history_response, 404)["code"] == "chat_not_found"


# The Avito API sees the same history


async def test_avito_messages_get_leaves_out_deleted_messages(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    kept = await send(api.http, alice, chat, "kept")
    doomed = await send(api.http, alice, chat, "doomed")
    ok(await _delete(api, alice, doomed["id"]), 204)
    assert [m["id"] for m in await get_messages(api.http, chat)] == [kept["id"]]
    assert [m["id"] for m in await get_messages(api.http, chat, limit=10)] == [kept["id"]]


async def test_messages_sent_through_either_api_show_in_both(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await _chat(api, owner=alice)
    v1 = await send(api.http, alice, chat, "from v1")
    avito = ok(
        await api.http.post(
            "/messages/add", json={"chat": chat, "author": alice.id, "text": "from avito"}
        ),
        201,
    )
    seen_by_avito = await get_messages(api.http, chat)
    assert seen_by_avito == [
        {
            "id": v1["id"],
            "chat": chat,
            "author": alice.id,
            "text": "from v1",
            "created_at": v1["created_at"],
        },
        {
            "id": avito["id"],
            "chat": chat,
            "author": alice.id,
            "text": "from avito",
            "created_at": seen_by_avito[1]["created_at"],
        },
    ]
    seen_by_v1 = (await history(api.http, alice, chat))["messages"]
    assert [(m["id"], m["seq"], m["text"]) for m in seen_by_v1] == [
        (v1["id"], 1, "from v1"),
        (avito["id"], 2, "from avito"),
    ]
    assert seen_by_v1[1]["created_at"] == seen_by_avito[1]["created_at"]
