"""Small steps the API tests share: create things through the API and check replies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from chatd.app import create_app
from chatd.config import Settings
from chatd.core import messages
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore

# RFC 3339 in UTC, always six fraction digits and a Z.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app built with these settings (the `client` fixture uses the defaults)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chatd") as http:
            yield http


def created_id(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == ["id"]
    assert type(body["id"]) is int
    return int(body["id"])


async def add_user(client: httpx.AsyncClient, username: str) -> int:
    return created_id(await client.post("/users/add", json={"username": username}))


async def add_users(client: httpx.AsyncClient, *usernames: str) -> list[int]:
    return [await add_user(client, name) for name in usernames]


async def add_chat(client: httpx.AsyncClient, name: str, users: Sequence[int | str]) -> int:
    return created_id(await client.post("/chats/add", json={"name": name, "users": list(users)}))


async def send(client: httpx.AsyncClient, chat: int, author: int, text: str) -> int:
    body = {"chat": chat, "author": author, "text": text}
    return created_id(await client.post("/messages/add", json=body))


async def send_many(
    client: httpx.AsyncClient, chat: int, author: int, texts: Sequence[str], concurrency: int = 50
) -> list[int]:
    """Sends the texts, up to `concurrency` at a time; returns the ids in the order of `texts`."""
    ids: list[int] = []
    for start in range(0, len(texts), concurrency):
        batch = texts[start : start + concurrency]
        ids += await asyncio.gather(*(send(client, chat, author, text) for text in batch))
    return ids


async def seed_messages(
    settings: Settings, chat: int, author: int, texts: Sequence[str], concurrency: int = 10
) -> None:
    """Sends the texts through the core and the real store, skipping HTTP: a long history in
    a fraction of the time. Up to `concurrency` sends at a time."""
    database = open_database(settings)
    try:
        store = SqlStore(database)
        for start in range(0, len(texts), concurrency):
            batch = texts[start : start + concurrency]
            await asyncio.gather(
                *(
                    messages.post_message(
                        store, chat, author, text, max_length=settings.max_text_length
                    )
                    for text in batch
                )
            )
    finally:
        await database.dispose()


async def get_chats(client: httpx.AsyncClient, user: int) -> list[dict[str, Any]]:
    response = await client.post("/chats/get", json={"user": user})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def get_messages(
    client: httpx.AsyncClient, chat: int | str, **page: Any
) -> list[dict[str, Any]]:
    response = await client.post("/messages/get", json={"chat": chat, **page})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def assert_error(response: httpx.Response, status: int, *mentions: str) -> dict[str, str]:
    """The reply is `status` with the JSON error body, and its message names every `mentions`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, str] = body["error"]
    assert sorted(error) == ["code", "message"]
    assert re.fullmatch(r"[a-z][a-z_]*", error["code"]), error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    for mention in mentions:
        assert mention in error["message"], error
    return error


def parse_timestamp(value: str) -> datetime:
    assert TIMESTAMP.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
