"""One idempotency contract for every v1 write (Idempotency-Key)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from chatd.config import Settings
from chatd.core import clock, writes
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore


async def _login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    body = {"username": username, "password": "password1"}
    assert (await client.post("/api/v1/users", json=body)).status_code == 201
    token = (await client.post("/api/v1/auth/tokens", json=body)).json()["token"]
    return {"Authorization": f"Bearer {token}"}


async def _chat(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    created = await client.post("/api/v1/chats", json={"name": "room"}, headers=auth)
    assert created.status_code == 201
    return int(created.json()["id"])


async def _texts(client: httpx.AsyncClient, auth: dict[str, str], chat: int) -> list[str]:
    page = await client.get(f"/api/v1/chats/{chat}/messages?limit=100", headers=auth)
    return [m["text"] for m in page.json()["messages"]]


async def test_a_retry_replays_the_stored_response_without_sending_again(
    client: httpx.AsyncClient,
) -> None:
    auth = await _login(client, "alice")
    chat = await _chat(client, auth)
    headers = {**auth, "Idempotency-Key": "send-1"}
    first = await client.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "hi"}, headers=headers
    )
    again = await client.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "hi"}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _texts(client, auth, chat) == ["hi"]


async def test_concurrent_retries_of_a_send_store_exactly_one_message(
    client: httpx.AsyncClient,
) -> None:
    auth = await _login(client, "alice")
    chat = await _chat(client, auth)
    headers = {**auth, "Idempotency-Key": "burst"}

    async def send() -> httpx.Response:
        return await client.post(
            f"/api/v1/chats/{chat}/messages", json={"text": "once"}, headers=headers
        )

    responses = await asyncio.gather(*(send() for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1  # replays, if any, carry the same message
    assert await _texts(client, auth, chat) == ["once"]
    in_flight = [r for r in responses if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "idempotency_key_in_use" for r in in_flight)


async def test_a_key_reused_for_another_request_is_refused_with_422(
    client: httpx.AsyncClient,
) -> None:
    auth = await _login(client, "alice")
    chat = await _chat(client, auth)
    headers = {**auth, "Idempotency-Key": "k"}
    await client.post(f"/api/v1/chats/{chat}/messages", json={"text": "one"}, headers=headers)
    other = await client.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "two"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await _texts(client, auth, chat) == ["one"]


async def test_keys_belong_to_one_user(client: httpx.AsyncClient) -> None:
    alice = await _login(client, "alice")
    bob = await _login(client, "bob")
    made = [
        await client.post(
            "/api/v1/chats", json={"name": name}, headers={**auth, "Idempotency-Key": "same"}
        )
        for name, auth in (("a", alice), ("b", bob))
    ]
    assert [r.status_code for r in made] == [201, 201]
    assert made[0].json()["id"] != made[1].json()["id"]


async def test_client_errors_are_replayed_too(client: httpx.AsyncClient) -> None:
    auth = await _login(client, "alice")
    chat = await _chat(client, auth)
    headers = {**auth, "Idempotency-Key": "blank"}
    first = await client.post(f"/api/v1/chats/{chat}/messages", json={"text": " "}, headers=headers)
    again = await client.post(f"/api/v1/chats/{chat}/messages", json={"text": " "}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_deletes_and_patches_are_idempotent(client: httpx.AsyncClient) -> None:
    auth = await _login(client, "alice")
    chat = await _chat(client, auth)
    sent = await client.post(f"/api/v1/chats/{chat}/messages", json={"text": "x"}, headers=auth)
    message = sent.json()["id"]
    headers = {**auth, "Idempotency-Key": "del"}
    first = await client.delete(f"/api/v1/messages/{message}", headers=headers)
    again = await client.delete(f"/api/v1/messages/{message}", headers=headers)
    assert first.status_code == again.status_code == 204
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
async def test_an_invalid_key_is_a_400(client: httpx.AsyncClient, key: str) -> None:
    auth = await _login(client, "alice")
    response = await client.post(
        "/api/v1/chats", json={"name": "r"}, headers={**auth, "Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"


async def test_a_key_of_255_characters_is_accepted(client: httpx.AsyncClient) -> None:
    auth = await _login(client, "alice")
    headers = {**auth, "Idempotency-Key": "k" * 255}
    assert (
        await client.post("/api/v1/chats", json={"name": "r"}, headers=headers)
    ).status_code == 201


async def test_without_a_token_the_key_changes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/chats", json={"name": "r"}, headers={"Idempotency-Key": "anon"}
    )
    assert response.status_code == 401


async def test_an_expired_key_runs_the_request_again(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    auth = await _login(client, "alice")
    chat = await _chat(client, auth)
    headers = {**auth, "Idempotency-Key": "old"}
    url = f"/api/v1/chats/{chat}/messages"
    await client.post(url, json={"text": "again"}, headers=headers)
    # Age the stored key past its lifetime (24 hours by default).
    database = open_database(settings)
    try:
        later = clock.now() + timedelta(hours=1)
        purged = await SqlStore(database).write(None, writes.do_purge_idempotency_keys, later)
    finally:
        await database.dispose()
    assert purged == 1
    repeated = await client.post(url, json={"text": "again"}, headers=headers)
    assert repeated.status_code == 201
    assert "idempotent-replayed" not in repeated.headers
    assert await _texts(client, auth, chat) == ["again", "again"]
