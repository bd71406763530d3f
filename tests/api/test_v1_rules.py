"""GET /api/v1/rules: what the server accepts, public, so that a client can say it before it
submits (the web client's registration hints and its message-length counter)."""

from __future__ import annotations

from httpx import AsyncClient

from chatd.config import Settings


async def test_the_rules_are_the_ones_the_server_enforces(
    client: AsyncClient, settings: Settings
) -> None:
    rules = await client.get("/api/v1/rules")  # no token: a form shows them before sign-up
    assert rules.status_code == 200
    body = rules.json()
    assert body == {
        "text_max_length": settings.max_text_length,
        "username_max_length": 64,
        "password_min_length": 8,
        "password_max_length": 1024,
        "chat_name_max_length": 128,
    }
    # Each is the edge the server holds: one past it is refused, the edge itself is not.
    short = {"username": "r" * body["username_max_length"], "password": "p" * 7}
    assert (await client.post("/api/v1/users", json=short)).status_code == 400
    edge = {"username": "r" * body["username_max_length"], "password": "p" * 8}
    assert (await client.post("/api/v1/users", json=edge)).status_code == 201
    too_long = {"username": "r" * 65, "password": "p" * 8}
    assert (await client.post("/api/v1/users", json=too_long)).status_code == 400
