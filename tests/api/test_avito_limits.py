"""The Avito API under CHATD_RATE_LIMIT_AVITO: declared once on its routes (api/ratelimit.py),
so its successes carry the RateLimit-* headers that v1's do, through the fast path too."""

from __future__ import annotations

import dataclasses

import httpx

from chatd.config import Settings
from tests.api.helpers import assert_error
from tests.api.v1_helpers import open_api


def _assert_counted(response: httpx.Response, status: int, limit: int, remaining: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == str(remaining)
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60
    assert "Retry-After" not in response.headers


async def test_an_avito_success_carries_the_rate_limit_headers(settings: Settings) -> None:
    async with open_api(dataclasses.replace(settings, rate_limit_avito="5/minute")) as api:
        user = await api.http.post("/users/add", json={"username": "alice"})
        _assert_counted(user, 201, 5, 4)
        alice = user.json()["id"]
        chat = await api.http.post("/chats/add", json={"name": "general", "users": [alice]})
        _assert_counted(chat, 201, 5, 3)
        body = {"chat": chat.json()["id"], "author": alice, "text": "hi"}
        _assert_counted(await api.http.post("/messages/add", json=body), 201, 5, 2)
        _assert_counted(await api.http.post("/chats/get", json={"user": alice}), 200, 5, 1)
        history = await api.http.post("/messages/get", json={"chat": chat.json()["id"]})
        _assert_counted(history, 200, 5, 0)
        refused = await api.http.post("/chats/get", json={"user": alice})
        assert assert_error(refused, 429)["code"] == "rate_limited"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
        async with api.client_from("192.0.2.7") as elsewhere:  # per client address
            _assert_counted(await elsewhere.post("/chats/get", json={"user": alice}), 200, 5, 4)


async def test_an_unlimited_avito_reply_carries_no_rate_limit_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/users/add", json={"username": "alice"})
    assert response.status_code == 201, response.text
    assert not [name for name in response.headers if name.lower().startswith("ratelimit")]
