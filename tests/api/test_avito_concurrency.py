"""Requests racing each other: no lost or reordered messages, and names taken exactly once."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.helpers import add_chat, add_user, add_users, assert_error, get_messages, send


async def test_concurrent_messages_all_succeed_and_read_back_in_one_consistent_order(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    chat = await add_chat(client, "busy", [alice, bob])
    texts = [f"message {n}" for n in range(50)]
    ids = await asyncio.gather(
        *(send(client, chat, (alice, bob)[n % 2], text) for n, text in enumerate(texts))
    )
    assert len(set(ids)) == 50
    found = await get_messages(client, chat)
    assert sorted(m["id"] for m in found) == sorted(ids)
    assert [m["id"] for m in found] == sorted(ids)
    times = [m["created_at"] for m in found]
    assert times == sorted(times)
    assert {m["id"]: m["text"] for m in found} == dict(zip(ids, texts, strict=True))


async def test_concurrent_messages_page_the_same_way_as_the_whole_history(
    client: httpx.AsyncClient,
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "busy", [alice])
    await asyncio.gather(*(send(client, chat, alice, f"m{n}") for n in range(50)))
    whole = await get_messages(client, chat)
    paged: list[dict[str, object]] = []
    page = await get_messages(client, chat, limit=7)
    while page:
        paged = page + paged
        page = await get_messages(client, chat, limit=7, before=page[0]["id"])
    assert paged == whole


async def test_concurrent_messages_into_different_chats_keep_each_chat_in_order(
    client: httpx.AsyncClient,
) -> None:
    alice = await add_user(client, "alice")
    chats = [await add_chat(client, f"chat {n}", [alice]) for n in range(3)]
    sends = [send(client, chats[n % 3], alice, f"m{n}") for n in range(60)]
    await asyncio.gather(*sends)
    for chat in chats:
        found = await get_messages(client, chat)
        assert len(found) == 20
        assert [m["id"] for m in found] == sorted(m["id"] for m in found)
        assert [m["created_at"] for m in found] == sorted(m["created_at"] for m in found)


async def test_concurrent_users_with_the_same_name_get_one_201_and_409_for_the_rest(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        *(client.post("/users/add", json={"username": "racer"}) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    for response in responses:
        if response.status_code == 409:
            assert assert_error(response, 409)["code"] == "username_taken"


async def test_concurrent_users_with_names_differing_in_case_get_exactly_one_201(
    client: httpx.AsyncClient,
) -> None:
    names = ["racer", "Racer", "RACER", "rAcEr", " racer "] * 4
    responses = await asyncio.gather(
        *(client.post("/users/add", json={"username": name}) for name in names)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19


async def test_concurrent_chats_with_the_same_name_get_one_201_and_409_for_the_rest(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    responses = await asyncio.gather(
        *(
            client.post("/chats/add", json={"name": "lobby", "users": [alice, bob]})
            for _ in range(20)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
    for response in responses:
        if response.status_code == 409:
            assert assert_error(response, 409)["code"] == "chat_name_taken"
    chats = (await client.post("/chats/get", json={"user": alice})).json()
    assert [c["name"] for c in chats] == ["lobby"]
