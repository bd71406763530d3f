"""POST /chats/add and POST /chats/get: named chats between users, newest activity first."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chatd.config import Settings
from chatd.core import writes
from chatd.core.ports import Send
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore
from tests.api.helpers import (
    add_chat,
    add_user,
    add_users,
    assert_error,
    created_id,
    get_chats,
    parse_timestamp,
    send,
)


def _numbers(message: str) -> set[int]:
    return {int(number) for number in re.findall(r"\d+", message)}


# chats/add


async def test_add_chat_returns_201_with_an_integer_id(client: httpx.AsyncClient) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    response = await client.post("/chats/add", json={"name": "chat_1", "users": [alice, bob]})
    assert created_id(response) >= 1


async def test_chat_with_a_single_user_is_created(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "notes", [alice])
    assert [c["id"] for c in await get_chats(client, alice)] == [chat]


async def test_chat_with_hundreds_of_users_lists_them_all(client: httpx.AsyncClient) -> None:
    users = await asyncio.gather(*(add_user(client, f"user_{n}") for n in range(600)))
    chat = await add_chat(client, "everyone", users)
    (found,) = await get_chats(client, users[-1])
    assert found["id"] == chat
    assert found["users"] == sorted(users)


async def test_chat_members_are_listed_in_ascending_id_order(client: httpx.AsyncClient) -> None:
    users = await add_users(client, *(f"user_{n}" for n in range(12)))
    # Ids past 9 would misorder if sorted as text.
    given = [users[11], users[1], users[9], users[0], users[10], users[2]]
    await add_chat(client, "mixed", given)
    (found,) = await get_chats(client, users[0])
    assert found["users"] == sorted(given)


async def test_duplicate_user_ids_collapse(client: httpx.AsyncClient) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    await add_chat(client, "twice", [bob, alice, bob, alice, alice])
    (found,) = await get_chats(client, alice)
    assert found["users"] == sorted([alice, bob])


async def test_user_ids_given_as_numeric_strings_are_accepted(client: httpx.AsyncClient) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    await add_chat(client, "quoted", [str(alice), str(bob)])
    (found,) = await get_chats(client, bob)
    assert found["users"] == [alice, bob]


async def test_empty_users_list_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/chats/add", json={"name": "nobody", "users": []})
    assert assert_error(response, 400, "users")["code"] == "invalid_users"


@pytest.mark.parametrize("users", ["1", 1, {"1": 1}, None, True])
async def test_users_that_is_not_a_list_is_rejected(
    client: httpx.AsyncClient, users: object
) -> None:
    await add_user(client, "alice")
    response = await client.post("/chats/add", json={"name": "c", "users": users})
    assert assert_error(response, 400, "users")["code"] == "invalid_field"


async def test_unknown_user_ids_are_all_named_and_nothing_is_created(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    response = await client.post(
        "/chats/add", json={"name": "ghosts", "users": [alice, 9998, bob, 9999, 9998]}
    )
    error = assert_error(response, 404)
    assert error["code"] == "user_not_found"
    assert _numbers(error["message"]) == {9998, 9999}
    assert await get_chats(client, alice) == []
    chat = await add_chat(client, "ghosts", [alice, bob])
    assert [c["id"] for c in await get_chats(client, alice)] == [chat]


async def test_many_unknown_user_ids_are_named_up_to_a_hundred_then_counted(
    client: httpx.AsyncClient,
) -> None:
    alice = await add_user(client, "alice")
    missing = list(range(10_001, 11_201))
    response = await client.post("/chats/add", json={"name": "crowd", "users": [alice, *missing]})
    # An error never echoes a client's input at length: the first 100, then how many more.
    message = assert_error(response, 404)["message"]
    assert message.endswith("and 1,100 more")
    assert _numbers(message.removesuffix("and 1,100 more")) == set(missing[:100])
    await add_chat(client, "crowd", [alice])


async def test_only_unknown_user_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/chats/add", json={"name": "c", "users": [42]})
    assert assert_error(response, 404, "42")["code"] == "user_not_found"


async def test_taken_chat_name_is_a_conflict(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    await add_chat(client, "general", [alice])
    response = await client.post("/chats/add", json={"name": "general", "users": [alice]})
    assert assert_error(response, 409, "general")["code"] == "chat_name_taken"


async def test_chat_name_is_trimmed(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    await add_chat(client, "  general \n", [alice])
    (found,) = await get_chats(client, alice)
    assert found["name"] == "general"
    response = await client.post("/chats/add", json={"name": "general", "users": [alice]})
    assert_error(response, 409)


async def test_chat_name_keeps_unicode_and_quotes(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    name = "Чат «друзей» 🙂 'x'; DROP TABLE chats;--"
    await add_chat(client, name, [alice])
    (found,) = await get_chats(client, alice)
    assert found["name"] == name


@pytest.mark.parametrize("name", ["c" * 128, "🙂" * 128], ids=["ascii", "emoji"])
async def test_chat_name_of_128_characters_is_accepted(
    client: httpx.AsyncClient, name: str
) -> None:
    alice = await add_user(client, "alice")
    await add_chat(client, name, [alice])
    (found,) = await get_chats(client, alice)
    assert found["name"] == name


async def test_chat_name_of_129_characters_is_rejected(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    response = await client.post("/chats/add", json={"name": "c" * 129, "users": [alice]})
    assert assert_error(response, 400, "name", "128")["code"] == "invalid_name"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
async def test_empty_or_blank_chat_name_is_rejected(client: httpx.AsyncClient, name: str) -> None:
    alice = await add_user(client, "alice")
    response = await client.post("/chats/add", json={"name": name, "users": [alice]})
    assert assert_error(response, 400, "name")["code"] == "invalid_name"


@pytest.mark.parametrize("name", ["a\x00b", "a\nb", "a\x07b"])
async def test_chat_name_with_a_control_character_is_rejected(
    client: httpx.AsyncClient, name: str
) -> None:
    alice = await add_user(client, "alice")
    response = await client.post("/chats/add", json={"name": name, "users": [alice]})
    assert assert_error(response, 400, "name", "control")["code"] == "invalid_name"


@pytest.mark.parametrize("name", [7, None, ["general"], {"name": "general"}])
async def test_chat_name_that_is_not_a_string_is_rejected(
    client: httpx.AsyncClient, name: object
) -> None:
    alice = await add_user(client, "alice")
    response = await client.post("/chats/add", json={"name": name, "users": [alice]})
    assert assert_error(response, 400, "name")["code"] == "invalid_field"


@pytest.mark.parametrize("missing", ["name", "users"])
async def test_chat_without_a_required_field_is_rejected(
    client: httpx.AsyncClient, missing: str
) -> None:
    alice = await add_user(client, "alice")
    body = {"name": "general", "users": [alice]}
    del body[missing]
    response = await client.post("/chats/add", json=body)
    assert assert_error(response, 400, missing)["code"] == "missing_field"


# chats/get


async def test_chat_lists_its_fields_and_a_new_chat_is_active_since_creation(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC)
    alice, bob = await add_users(client, "alice", "bob")
    chat = await add_chat(client, "general", [bob, alice])
    after = datetime.now(UTC)
    (found,) = await get_chats(client, alice)
    assert found == {
        "id": chat,
        "name": "general",
        "users": [alice, bob],
        "created_at": found["created_at"],
        "last_message_at": found["created_at"],
    }
    assert before <= parse_timestamp(found["created_at"]) <= after


async def test_last_message_at_is_the_time_of_the_newest_message(
    client: httpx.AsyncClient,
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    await send(client, chat, alice, "one")
    await send(client, chat, alice, "two")
    messages = (await client.post("/messages/get", json={"chat": chat})).json()
    (found,) = await get_chats(client, alice)
    assert found["last_message_at"] == messages[-1]["created_at"]
    assert parse_timestamp(found["last_message_at"]) > parse_timestamp(found["created_at"])


async def test_chats_are_sorted_by_latest_message_newest_first(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    first = await add_chat(client, "first", [alice])
    second = await add_chat(client, "second", [alice])
    third = await add_chat(client, "third", [alice])
    await send(client, second, alice, "x")
    await send(client, first, alice, "x")
    await send(client, third, alice, "x")
    await send(client, first, alice, "x")
    assert [c["id"] for c in await get_chats(client, alice)] == [first, third, second]


async def test_chat_without_messages_is_sorted_by_its_creation_time(
    client: httpx.AsyncClient,
) -> None:
    alice = await add_user(client, "alice")
    old_quiet = await add_chat(client, "old quiet", [alice])
    talked = await add_chat(client, "talked", [alice])
    await send(client, talked, alice, "x")
    new_quiet = await add_chat(client, "new quiet", [alice])
    found = await get_chats(client, alice)
    assert [c["id"] for c in found] == [new_quiet, talked, old_quiet]
    times = [parse_timestamp(c["last_message_at"]) for c in found]
    assert times == sorted(times, reverse=True)


async def test_chats_with_equal_activity_times_list_the_higher_id_first(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Two requests never share a microsecond, so the tie is made through the store itself.
    alice = await add_user(client, "alice")
    moment = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    database = open_database(settings)
    try:
        store = SqlStore(database)
        a = await store.write(None, writes.do_create_chat, "a", [alice], moment)
        b = await store.write(None, writes.do_create_chat, "b", [alice], moment)
        c = await store.write(None, writes.do_create_chat, "c", [alice], moment)
        before = moment - timedelta(seconds=1)
        earlier = await store.write(None, writes.do_create_chat, "earlier", [alice], before)
        await store.write(None, writes.do_send, Send(a, alice, "x", moment))
    finally:
        await database.dispose()
    found = await get_chats(client, alice)
    assert [chat["id"] for chat in found] == [c, b, a, earlier]
    assert found[0]["last_message_at"] == "2026-01-01T12:00:00.000000Z"


async def test_chats_get_lists_only_the_users_own_chats(client: httpx.AsyncClient) -> None:
    alice, bob, carol = await add_users(client, "alice", "bob", "carol")
    shared = await add_chat(client, "shared", [alice, bob])
    await add_chat(client, "bob and carol", [bob, carol])
    mine = await add_chat(client, "alice alone", [alice])
    assert [c["id"] for c in await get_chats(client, alice)] == [mine, shared]


async def test_user_without_chats_gets_an_empty_list(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    assert await get_chats(client, alice) == []


async def test_chats_of_an_unknown_user_are_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/chats/get", json={"user": 4242})
    assert assert_error(response, 404, "4242")["code"] == "user_not_found"


async def test_chats_get_accepts_a_numeric_string_user(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post("/chats/get", json={"user": str(alice)})
    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == [chat]
