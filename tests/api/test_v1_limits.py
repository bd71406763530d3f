"""API v1 rate limits: 429 with Retry-After and RateLimit-* headers on sends, logins (per address,
and per username after failures), registrations and chat creation; the Avito API unlimited."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from chatd.config import Settings
from tests.api.helpers import assert_error
from tests.api.v1_helpers import (
    PASSWORD,
    Api,
    create_chat,
    open_api,
    register,
    sign_up,
    sign_up_many,
)


@asynccontextmanager
async def _limited(settings: Settings, **rates: str) -> AsyncIterator[Api]:
    """The app with these rate limits (the `settings` fixture has none)."""
    async with open_api(dataclasses.replace(settings, **rates)) as api:
        yield api


def _assert_counted(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.status_code in (200, 201), response.text
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == str(remaining)
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60
    assert "Retry-After" not in response.headers


def _assert_limited(response: httpx.Response, limit: int, *mentions: str) -> None:
    assert assert_error(response, 429, *mentions)["code"] == "rate_limited"
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]


def _login(username: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": username, "password": password}


async def test_sends_are_limited_per_user(settings: Settings) -> None:
    async with _limited(settings, rate_limit_sends="3/minute") as api:
        alice, bob = await sign_up_many(api.http, "alice", "bob")
        chat = (await create_chat(api.http, alice, "general", [bob]))["id"]
        path = f"/api/v1/chats/{chat}/messages"
        for remaining in (2, 1, 0):
            response = await api.http.post(path, json={"text": "hi"}, headers=alice.auth)
            _assert_counted(response, 3, remaining)
        _assert_limited(await api.http.post(path, json={"text": "hi"}, headers=alice.auth), 3)
        # Direct messages are sends too, and share the budget.
        direct = await api.http.post(
            f"/api/v1/direct/{bob.id}/messages", json={"text": "hi"}, headers=alice.auth
        )
        _assert_limited(direct, 3)
        _assert_counted(await api.http.post(path, json={"text": "hi"}, headers=bob.auth), 3, 2)
        assert await api.scalar("SELECT count(*) FROM messages") == 4
        assert await api.scalar("SELECT count(*) FROM chats") == 1


async def test_logins_are_limited_per_address(settings: Settings) -> None:
    async with _limited(settings, rate_limit_logins="3/minute") as api:
        await register(api.http, "alice")
        for remaining in (2, 1, 0):
            response = await api.http.post("/api/v1/auth/tokens", json=_login("alice"))
            _assert_counted(response, 3, remaining)
        _assert_limited(await api.http.post("/api/v1/auth/tokens", json=_login("alice")), 3)
        # Wrong passwords count against the address as well.
        _assert_limited(
            await api.http.post("/api/v1/auth/tokens", json=_login("alice", "wrong password")),
            3,
        )
        async with api.client_from("192.0.2.7") as elsewhere:
            response = await elsewhere.post("/api/v1/auth/tokens", json=_login("alice"))
            _assert_counted(response, 3, 2)


async def test_failed_logins_throttle_the_username_before_the_address_limit(
    settings: Settings,
) -> None:
    rates = {"rate_limit_logins": "100/minute", "rate_limit_login_failures": "3/minute"}
    async with _limited(settings, **rates) as api:
        await register(api.http, "alice")
        await register(api.http, "bob")
        for _ in range(3):
            wrong = await api.http.post("/api/v1/auth/tokens", json=_login("alice", "guess123"))
            assert assert_error(wrong, 401)["code"] == "invalid_credentials"
        # Even the right password, from anywhere, in any spelling of the name, waits now.
        async with api.client_from("192.0.2.7") as elsewhere:
            for name in ("alice", " ALICE "):
                response = await elsewhere.post("/api/v1/auth/tokens", json=_login(name))
                _assert_limited(response, 3, "failed logins")
        # Other usernames, and the address itself, are not affected.
        response = await api.http.post("/api/v1/auth/tokens", json=_login("bob"))
        _assert_counted(response, 100, 100 - 4)


async def test_successful_logins_do_not_count_as_failures(settings: Settings) -> None:
    rates = {"rate_limit_logins": "100/minute", "rate_limit_login_failures": "2/minute"}
    async with _limited(settings, **rates) as api:
        await register(api.http, "alice")
        for _ in range(4):
            response = await api.http.post("/api/v1/auth/tokens", json=_login("alice"))
            assert response.status_code == 201, response.text


async def test_failures_for_an_unknown_username_are_throttled_too(settings: Settings) -> None:
    rates = {"rate_limit_logins": "100/minute", "rate_limit_login_failures": "2/minute"}
    async with _limited(settings, **rates) as api:
        for _ in range(2):
            response = await api.http.post("/api/v1/auth/tokens", json=_login("nobody"))
            assert response.status_code == 401, response.text
        response = await api.http.post("/api/v1/auth/tokens", json=_login("nobody"))
        _assert_limited(response, 2)


async def test_registrations_are_limited_per_address(settings: Settings) -> None:
    async with _limited(settings, rate_limit_registrations="2/minute") as api:
        for remaining, name in ((1, "alice"), (0, "bob")):
            response = await api.http.post(
                "/api/v1/users", json={"username": name, "password": PASSWORD}
            )
            _assert_counted(response, 2, remaining)
        response = await api.http.post(
            "/api/v1/users", json={"username": "carol", "password": PASSWORD}
        )
        _assert_limited(response, 2)
        assert await api.scalar("SELECT count(*) FROM users") == 2
        async with api.client_from("192.0.2.7") as elsewhere:
            response = await elsewhere.post(
                "/api/v1/users", json={"username": "carol", "password": PASSWORD}
            )
            _assert_counted(response, 2, 1)


async def test_chat_creation_is_limited_per_user(settings: Settings) -> None:
    async with _limited(settings, rate_limit_chat_creations="2/minute") as api:
        alice, bob = await sign_up_many(api.http, "alice", "bob")
        for remaining in (1, 0):
            response = await api.http.post(
                "/api/v1/chats", json={"name": f"chat {remaining}"}, headers=alice.auth
            )
            _assert_counted(response, 2, remaining)
        response = await api.http.post(
            "/api/v1/chats", json={"name": "one too many"}, headers=alice.auth
        )
        _assert_limited(response, 2)
        response = await api.http.post("/api/v1/chats", json={"name": "bob's"}, headers=bob.auth)
        _assert_counted(response, 2, 1)


async def test_limits_apply_only_to_their_own_endpoints(settings: Settings) -> None:
    async with _limited(settings, rate_limit_sends="1/minute") as api:
        alice = await sign_up(api.http, "alice")
        chat = (await create_chat(api.http, alice, "general"))["id"]
        path = f"/api/v1/chats/{chat}/messages"
        _assert_counted(await api.http.post(path, json={"text": "hi"}, headers=alice.auth), 1, 0)
        for _ in range(5):
            response = await api.http.get(path, headers=alice.auth)
            assert response.status_code == 200, response.text
            assert "RateLimit-Limit" not in response.headers


async def test_the_avito_api_is_unlimited_by_default(settings: Settings) -> None:
    defaults = Settings(database_url=settings.database_url, argon2_profile="CHEAPEST")
    assert defaults.rate_limit_avito == ""
    async with open_api(defaults) as api:
        # More users, chats and messages than the default v1 limits allow in an hour.
        for n in range(70):
            user = await api.http.post("/users/add", json={"username": f"user{n}"})
            chat = await api.http.post(
                "/chats/add", json={"name": f"chat{n}", "users": [user.json()["id"]]}
            )
            body = {"chat": chat.json()["id"], "author": user.json()["id"], "text": "hi"}
            for response in (user, chat, await api.http.post("/messages/add", json=body)):
                assert response.status_code == 201, response.text
                assert "RateLimit-Limit" not in response.headers
