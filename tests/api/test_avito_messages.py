"""POST /messages/add and POST /messages/get: a chat's history, its pages and its rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

from chatd.config import Settings
from tests.api.helpers import (
    add_chat,
    add_user,
    add_users,
    app_client,
    assert_error,
    created_id,
    get_chats,
    get_messages,
    parse_timestamp,
    seed_messages,
    send,
    send_many,
)


async def _chat_with_history(client: httpx.AsyncClient, count: int) -> tuple[int, list[int]]:
    """A chat of one user with messages "m0".."m{count-1}", and their ids in sending order."""
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "history", [alice])
    return chat, [await send(client, chat, alice, f"m{n}") for n in range(count)]


# messages/add


async def test_send_returns_201_with_an_integer_id(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post(
        "/messages/add", json={"chat": chat, "author": alice, "text": "hi"}
    )
    assert created_id(response) >= 1


async def test_message_lists_its_fields(client: httpx.AsyncClient) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    chat = await add_chat(client, "general", [alice, bob])
    before = datetime.now(UTC)
    message = await send(client, chat, bob, "hello")
    after = datetime.now(UTC)
    (found,) = await get_messages(client, chat)
    assert found == {
        "id": message,
        "chat": chat,
        "author": bob,
        "text": "hello",
        "created_at": found["created_at"],
    }
    assert before <= parse_timestamp(found["created_at"]) <= after


@pytest.mark.parametrize(
    "text",
    [
        "  leading and trailing spaces  ",
        "line one\nline two\r\nline three\n",
        "\ttabbed",
        "Привет, мир! 你好 مرحبا",
        "emoji 🙂👍🏽👨‍👩‍👧 and flags 🇫🇷",
        "combining e\u0301 vs \u00e9, zero\u200bwidth",
        "quotes ' \" ` and backslashes \\ \\n \\u0000",
        "'; DROP TABLE messages; --",
        "Robert'); DELETE FROM users WHERE ('1'='1",
        "<script>alert(1)</script> & &amp;",
        "%s %d {0} {text} $1 ?",
        "\U0010ffff\ufeff\ufffd",
    ],
)
async def test_text_is_stored_exactly_as_sent(client: httpx.AsyncClient, text: str) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    await send(client, chat, alice, text)
    (found,) = await get_messages(client, chat)
    assert found["text"] == text


async def test_text_with_a_nul_character_is_stored_exactly_or_refused_but_never_fails(
    client: httpx.AsyncClient,
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    text = "before\x00after"
    response = await client.post(
        "/messages/add", json={"chat": chat, "author": alice, "text": text}
    )
    if response.status_code == 201:
        (found,) = await get_messages(client, chat)
        assert found["text"] == text
    else:
        assert_error(response, 400, "text")


async def test_text_of_10000_characters_is_accepted(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    await send(client, chat, alice, "x" * 10_000)
    (found,) = await get_messages(client, chat)
    assert found["text"] == "x" * 10_000


async def test_text_of_10001_characters_is_rejected(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post(
        "/messages/add", json={"chat": chat, "author": alice, "text": "x" * 10_001}
    )
    assert assert_error(response, 400, "text", "10000")["code"] == "invalid_text"
    assert await get_messages(client, chat) == []


async def test_text_length_counts_characters_not_bytes(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    await send(client, chat, alice, "🙂" * 10_000)


async def test_longest_text_follows_the_max_text_length_setting(settings: Settings) -> None:
    async with app_client(dataclasses.replace(settings, max_text_length=20)) as client:
        alice = await add_user(client, "alice")
        chat = await add_chat(client, "general", [alice])
        await send(client, chat, alice, "x" * 20)
        response = await client.post(
            "/messages/add", json={"chat": chat, "author": alice, "text": "x" * 21}
        )
        assert assert_error(response, 400, "text", "20")["code"] == "invalid_text"


@pytest.mark.parametrize("text", ["", " ", "\n\t \r\n", "\u3000\u2003"])
async def test_empty_or_blank_text_is_rejected(client: httpx.AsyncClient, text: str) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post(
        "/messages/add", json={"chat": chat, "author": alice, "text": text}
    )
    assert assert_error(response, 400, "text")["code"] == "invalid_text"


@pytest.mark.parametrize("text", [5, 1.5, True, None, ["hi"], {"text": "hi"}])
async def test_text_that_is_not_a_string_is_rejected(
    client: httpx.AsyncClient, text: object
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post(
        "/messages/add", json={"chat": chat, "author": alice, "text": text}
    )
    assert assert_error(response, 400, "text")["code"] == "invalid_field"


@pytest.mark.parametrize("missing", ["chat", "author", "text"])
async def test_message_without_a_required_field_is_rejected(
    client: httpx.AsyncClient, missing: str
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    body: dict[str, object] = {"chat": chat, "author": alice, "text": "hi"}
    del body[missing]
    response = await client.post("/messages/add", json=body)
    assert assert_error(response, 400, missing)["code"] == "missing_field"


async def test_message_to_an_unknown_chat_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    response = await client.post("/messages/add", json={"chat": 777, "author": alice, "text": "hi"})
    assert assert_error(response, 404, "777")["code"] == "chat_not_found"


async def test_message_from_an_unknown_author_is_not_found(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post("/messages/add", json={"chat": chat, "author": 888, "text": "hi"})
    assert assert_error(response, 404, "888")["code"] == "user_not_found"


async def test_message_from_a_non_member_is_forbidden(client: httpx.AsyncClient) -> None:
    alice, mallory = await add_users(client, "alice", "mallory")
    chat = await add_chat(client, "general", [alice])
    (before,) = await get_chats(client, alice)
    response = await client.post(
        "/messages/add", json={"chat": chat, "author": mallory, "text": "hi"}
    )
    error = assert_error(response, 403, str(mallory), str(chat))
    assert error["code"] == "not_a_member"
    assert await get_messages(client, chat) == []
    assert await get_chats(client, alice) == [before]


async def test_send_accepts_numeric_string_ids(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    body = {"chat": str(chat), "author": str(alice), "text": "hi"}
    created_id(await client.post("/messages/add", json=body))
    (found,) = await get_messages(client, chat)
    assert (found["chat"], found["author"]) == (chat, alice)


# messages/get


async def test_messages_come_back_oldest_first(client: httpx.AsyncClient) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    chat = await add_chat(client, "general", [alice, bob])
    sent = [
        await send(client, chat, alice, "one"),
        await send(client, chat, bob, "two"),
        await send(client, chat, alice, "three"),
    ]
    found = await get_messages(client, chat)
    assert [m["id"] for m in found] == sent
    assert [m["text"] for m in found] == ["one", "two", "three"]
    assert [m["author"] for m in found] == [alice, bob, alice]
    times = [parse_timestamp(m["created_at"]) for m in found]
    assert times == sorted(times)


async def test_chat_without_messages_has_an_empty_history(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    assert await get_messages(client, chat) == []


async def test_history_holds_only_that_chats_messages(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    one = await add_chat(client, "one", [alice])
    two = await add_chat(client, "two", [alice])
    await send(client, one, alice, "to one")
    await send(client, two, alice, "to two")
    await send(client, one, alice, "to one again")
    assert [m["text"] for m in await get_messages(client, one)] == ["to one", "to one again"]
    assert [m["chat"] for m in await get_messages(client, two)] == [two]


async def test_history_of_an_unknown_chat_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/messages/get", json={"chat": 555})
    assert assert_error(response, 404, "555")["code"] == "chat_not_found"


async def test_history_of_an_unknown_chat_with_limit_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/messages/get", json={"chat": 555, "limit": 10})
    assert assert_error(response, 404, "555")["code"] == "chat_not_found"


async def test_history_accepts_numeric_string_ids(client: httpx.AsyncClient) -> None:
    chat, ids = await _chat_with_history(client, 5)
    assert [m["id"] for m in await get_messages(client, str(chat))] == ids
    page = await get_messages(client, chat, limit=2, before=str(ids[3]))
    assert [m["id"] for m in page] == ids[1:3]
    page = await get_messages(client, chat, limit=2, after=str(ids[0]))
    assert [m["id"] for m in page] == ids[1:3]


async def test_limit_alone_returns_the_newest_messages_oldest_first(
    client: httpx.AsyncClient,
) -> None:
    chat, ids = await _chat_with_history(client, 10)
    page = await get_messages(client, chat, limit=3)
    assert [m["id"] for m in page] == ids[7:]
    assert [m["text"] for m in page] == ["m7", "m8", "m9"]


async def test_limit_beyond_the_history_returns_all_of_it(client: httpx.AsyncClient) -> None:
    chat, ids = await _chat_with_history(client, 4)
    assert [m["id"] for m in await get_messages(client, chat, limit=1000)] == ids


async def test_limit_on_an_empty_chat_returns_nothing(client: httpx.AsyncClient) -> None:
    chat, _ = await _chat_with_history(client, 0)
    assert await get_messages(client, chat, limit=1) == []


async def test_before_returns_the_messages_just_before_the_cursor(
    client: httpx.AsyncClient,
) -> None:
    chat, ids = await _chat_with_history(client, 10)
    page = await get_messages(client, chat, limit=3, before=ids[6])
    assert [m["id"] for m in page] == ids[3:6]


async def test_after_returns_the_messages_just_after_the_cursor(
    client: httpx.AsyncClient,
) -> None:
    chat, ids = await _chat_with_history(client, 10)
    page = await get_messages(client, chat, limit=3, after=ids[2])
    assert [m["id"] for m in page] == ids[3:6]


async def test_before_near_the_start_returns_the_shorter_remainder(
    client: httpx.AsyncClient,
) -> None:
    chat, ids = await _chat_with_history(client, 5)
    assert [m["id"] for m in await get_messages(client, chat, limit=3, before=ids[1])] == ids[:1]
    assert await get_messages(client, chat, limit=3, before=ids[0]) == []


async def test_after_near_the_end_returns_the_shorter_remainder(
    client: httpx.AsyncClient,
) -> None:
    chat, ids = await _chat_with_history(client, 5)
    assert [m["id"] for m in await get_messages(client, chat, limit=3, after=ids[3])] == ids[4:]
    assert await get_messages(client, chat, limit=3, after=ids[4]) == []


async def test_paging_back_with_before_walks_the_whole_history(client: httpx.AsyncClient) -> None:
    chat, ids = await _chat_with_history(client, 11)
    seen: list[int] = []
    page = await get_messages(client, chat, limit=4)
    while page:
        seen = [m["id"] for m in page] + seen
        page = await get_messages(client, chat, limit=4, before=page[0]["id"])
    assert seen == ids


async def test_paging_forward_with_after_walks_the_whole_history(
    client: httpx.AsyncClient,
) -> None:
    chat, ids = await _chat_with_history(client, 11)
    seen = [ids[0]]
    while page := await get_messages(client, chat, limit=4, after=seen[-1]):
        seen += [m["id"] for m in page]
    assert seen == ids


@pytest.mark.parametrize("cursor", ["before", "after"])
async def test_unknown_cursor_is_not_found(client: httpx.AsyncClient, cursor: str) -> None:
    chat, _ = await _chat_with_history(client, 3)
    response = await client.post("/messages/get", json={"chat": chat, "limit": 2, cursor: 9090})
    assert assert_error(response, 404, "9090")["code"] == "message_not_found"


@pytest.mark.parametrize("cursor", ["before", "after"])
async def test_cursor_from_another_chat_is_not_found(
    client: httpx.AsyncClient, cursor: str
) -> None:
    alice = await add_user(client, "alice")
    mine = await add_chat(client, "mine", [alice])
    other = await add_chat(client, "other", [alice])
    await send_many(client, mine, alice, ["a", "b", "c"], concurrency=1)
    foreign = await send(client, other, alice, "elsewhere")
    response = await client.post("/messages/get", json={"chat": mine, "limit": 2, cursor: foreign})
    assert assert_error(response, 404, str(foreign))["code"] == "message_not_found"


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**6])
async def test_limit_outside_1_to_1000_is_rejected(client: httpx.AsyncClient, limit: int) -> None:
    chat, _ = await _chat_with_history(client, 1)
    response = await client.post("/messages/get", json={"chat": chat, "limit": limit})
    assert_error(response, 400, "limit")


@pytest.mark.parametrize("limit", [2.5, True, "ten", [5], {"n": 5}])
async def test_limit_that_is_not_an_integer_is_rejected(
    client: httpx.AsyncClient, limit: object
) -> None:
    chat, _ = await _chat_with_history(client, 1)
    response = await client.post("/messages/get", json={"chat": chat, "limit": limit})
    assert_error(response, 400, "limit")


@pytest.mark.parametrize("limit", [1, 1000])
async def test_limit_at_the_bounds_is_accepted(client: httpx.AsyncClient, limit: int) -> None:
    chat, ids = await _chat_with_history(client, 2)
    assert [m["id"] for m in await get_messages(client, chat, limit=limit)] == ids[-limit:]


async def test_history_of_thousands_of_messages_comes_back_whole_and_in_order(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Past 1000 messages the history is streamed in batches: cross a batch boundary exactly
    # (1000), then end in the middle of the third batch (2500).
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "long", [alice])
    texts = [f"message {n}" for n in range(2500)]
    await seed_messages(settings, chat, alice, texts[:1000])
    first = await get_messages(client, chat)
    assert len(first) == 1000
    await seed_messages(settings, chat, alice, texts[1000:])
    found = await get_messages(client, chat)
    assert len(found) == 2500
    assert found[:1000] == first
    ids = [m["id"] for m in found]
    assert ids == sorted(set(ids))
    times = [m["created_at"] for m in found]
    assert times == sorted(times)
    assert {m["text"] for m in found} == set(texts)
    assert found[-1]["created_at"] == (await get_chats(client, alice))[0]["last_message_at"]
