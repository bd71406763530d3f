from __future__ import annotations

import httpx


async def test_user_chat_message_round_trip(client: httpx.AsyncClient) -> None:
    alice = (await client.post("/users/add", json={"username": "alice"})).json()["id"]
    bob = (await client.post("/users/add", json={"username": "bob"})).json()["id"]
    chat = await client.post("/chats/add", json={"name": "c", "users": [alice, bob]})
    assert chat.status_code == 201
    sent = await client.post(
        "/messages/add", json={"chat": chat.json()["id"], "author": alice, "text": "hi"}
    )
    assert sent.status_code == 201
    got = await client.post("/messages/get", json={"chat": chat.json()["id"]})
    assert [m["text"] for m in got.json()] == ["hi"]
