"""API v1 accounts: registration, passwords, tokens (login, logout, expiry) and /me."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from chatd.config import Settings
from chatd.storage.tables import auth_tokens, metadata
from tests.api.helpers import assert_error, parse_timestamp
from tests.api.v1_helpers import (
    ACCOUNT_KEYS,
    PASSWORD,
    Api,
    log_in,
    ok,
    open_api,
    register,
    sign_up,
)

# Registration


async def test_registration_returns_the_account_without_any_password(api: Api) -> None:
    before = datetime.now(UTC)
    response = await api.http.post(
        "/api/v1/users",
        json={"username": "alice", "password": PASSWORD, "email": "alice@example.org"},
    )
    account = ok(response, 201)
    assert sorted(account) == ACCOUNT_KEYS
    assert type(account["id"]) is int
    assert account["username"] == "alice"
    assert account["email"] == "alice@example.org"
    assert account["role"] == "user"
    assert account["blocked"] is False
    assert before - timedelta(seconds=1) <= parse_timestamp(account["created_at"])
    assert PASSWORD not in response.text


async def test_registration_without_email_has_a_null_email(api: Api) -> None:
    assert (await register(api.http, "alice"))["email"] is None


async def test_registration_with_an_invalid_email_is_refused(api: Api) -> None:
    body = {"username": "alice", "password": PASSWORD, "email": "not an address"}
    response = await api.http.post("/api/v1/users", json=body)
    assert assert_error(response, 400)["code"] == "invalid_email"


@pytest.mark.parametrize(
    ("length", "status"), [(0, 400), (7, 400), (8, 201), (1024, 201), (1025, 400)]
)
async def test_password_must_be_8_to_1024_characters(api: Api, length: int, status: int) -> None:
    response = await api.http.post(
        "/api/v1/users", json={"username": "alice", "password": "p" * length}
    )
    assert response.status_code == status, response.text
    if status == 400:
        assert assert_error(response, 400)["code"] == "invalid_password"


async def test_registration_needs_a_password(api: Api) -> None:
    response = await api.http.post("/api/v1/users", json={"username": "alice"})
    assert assert_error(response, 400, "password")["code"] == "missing_field"


async def test_username_is_trimmed(api: Api) -> None:
    assert (await register(api.http, "  alice \t"))["username"] == "alice"


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("", 400),
        ("   ", 400),
        ("a", 201),
        ("a" * 64, 201),
        ("a" * 65, 400),
        ("ali\x00ce", 400),
        ("ali\nce", 400),
        ("ali\x7fce", 400),
        ("Алиса 🙂", 201),
    ],
    ids=["empty", "blank", "one", "64", "65", "nul", "newline", "del", "unicode"],
)
async def test_username_rules_match_the_avito_api(api: Api, username: str, status: int) -> None:
    v1 = await api.http.post("/api/v1/users", json={"username": username, "password": PASSWORD})
    assert v1.status_code == status, v1.text
    if status == 400:
        assert assert_error(v1, 400)["code"] == "invalid_username"
    avito = await api.http.post("/users/add", json={"username": username + " "})
    assert avito.status_code == (409 if status == 201 else 400), avito.text


@pytest.mark.parametrize("taken", ["ALICE", " Alice ", "alice"])
async def test_username_is_unique_case_insensitively(api: Api, taken: str) -> None:
    await register(api.http, "alice")
    response = await api.http.post("/api/v1/users", json={"username": taken, "password": PASSWORD})
    assert assert_error(response, 409)["code"] == "username_taken"


async def test_username_of_an_avito_user_is_taken(api: Api) -> None:
    ok(await api.http.post("/users/add", json={"username": "alice"}), 201)
    response = await api.http.post(
        "/api/v1/users", json={"username": "Alice", "password": PASSWORD}
    )
    assert assert_error(response, 409)["code"] == "username_taken"


async def test_password_is_stored_only_as_an_argon2id_hash(api: Api) -> None:
    account = await register(api.http, "alice")
    stored = await api.scalar("SELECT password_hash FROM users WHERE id = :id", id=account["id"])
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# Logging in


async def test_login_returns_a_long_random_token_and_the_account(api: Api) -> None:
    account = await register(api.http, "alice")
    before = datetime.now(UTC)
    session = ok(
        await api.http.post(
            "/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD}
        ),
        201,
    )
    assert sorted(session) == ["expires_at", "token", "user"]
    assert session["user"] == account
    # 256 bits in URL-safe base64 are 43 characters.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", session["token"])
    expires_at = parse_timestamp(session["expires_at"])
    assert before + timedelta(days=30) <= expires_at + timedelta(seconds=1)
    assert expires_at <= datetime.now(UTC) + timedelta(days=30)


async def test_each_login_gets_a_different_token(api: Api) -> None:
    await register(api.http, "alice")
    assert await log_in(api.http, "alice") != await log_in(api.http, "alice")


async def test_login_ignores_the_case_and_spaces_of_the_username(api: Api) -> None:
    await register(api.http, "alice")
    token = await log_in(api.http, "  ALICE ")
    me = ok(await api.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}))
    assert me["username"] == "alice"


async def test_only_the_sha256_of_a_token_is_stored(api: Api) -> None:
    user = await sign_up(api.http, "alice")
    stored = await api.rows("SELECT token_hash FROM auth_tokens WHERE user_id = :id", id=user.id)
    assert [row[0] for row in stored] == [hashlib.sha256(user.token.encode()).hexdigest()]
    for table in metadata.sorted_tables:
        for row in await api.rows(f"SELECT * FROM {table.name}"):
            for value in row:
                assert user.token not in str(value), table.name


async def test_wrong_username_and_wrong_password_get_the_same_answer(api: Api) -> None:
    await register(api.http, "alice")
    wrong_password = await api.http.post(
        "/api/v1/auth/tokens", json={"username": "alice", "password": "wrong password"}
    )
    wrong_username = await api.http.post(
        "/api/v1/auth/tokens", json={"username": "nobody", "password": PASSWORD}
    )
    assert assert_error(wrong_password, 401)["code"] == "invalid_credentials"
    assert wrong_username.status_code == 401
    assert wrong_username.json() == wrong_password.json()


async def test_a_user_made_through_the_avito_api_cannot_log_in(api: Api) -> None:
    ok(await api.http.post("/users/add", json={"username": "alice"}), 201)
    response = await api.http.post(
        "/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD}
    )
    assert assert_error(response, 401)["code"] == "invalid_credentials"


async def test_a_password_set_for_an_avito_user_lets_them_log_in(api: Api) -> None:
    user = ok(await api.http.post("/users/add", json={"username": "alice"}), 201)
    await api.app.state.accounts.set_password("alice", PASSWORD)
    token = await log_in(api.http, "alice")
    me = ok(await api.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}))
    assert me["id"] == user["id"]


# Using a token


async def test_me_returns_the_token_owners_account(api: Api) -> None:
    account = await register(api.http, "alice", email="alice@example.org")
    token = await log_in(api.http, "alice")
    me = ok(await api.http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}))
    assert me == account


async def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    user = await sign_up(api.http, "alice")
    response = await api.http.get("/api/v1/me", headers={"Authorization": f"bearer {user.token}"})
    assert ok(response)["id"] == user.id


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Bearer", "missing_token"),
        ("Basic YWxpY2U6cGFzc3dvcmQ=", "missing_token"),
        ("Bearer not-a-token", "invalid_token"),
    ],
    ids=["none", "empty", "basic", "unknown"],
)
async def test_calls_without_a_valid_token_are_unauthenticated(
    api: Api, header: str | None, code: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await api.http.get("/api/v1/me", headers=headers)
    assert assert_error(response, 401)["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_revokes_only_the_token_in_use(api: Api) -> None:
    user = await sign_up(api.http, "alice")
    other = {"Authorization": f"Bearer {await log_in(api.http, 'alice')}"}
    ok(await api.http.delete("/api/v1/auth/tokens/current", headers=user.auth), 204)
    response = await api.http.get("/api/v1/me", headers=user.auth)
    assert assert_error(response, 401)["code"] == "invalid_token"
    again = await api.http.delete("/api/v1/auth/tokens/current", headers=user.auth)
    assert assert_error(again, 401)["code"] == "invalid_token"
    assert ok(await api.http.get("/api/v1/me", headers=other))["id"] == user.id
    assert await api.scalar("SELECT count(*) FROM auth_tokens WHERE user_id = :id", id=user.id) == 1


async def test_an_expired_token_is_refused(api: Api) -> None:
    user = await sign_up(api.http, "alice")
    ok(await api.http.get("/api/v1/me", headers=user.auth))
    past = datetime.now(UTC) - timedelta(seconds=1)
    await api.execute(
        auth_tokens.update().where(auth_tokens.c.user_id == user.id).values(expires_at=past)
    )
    response = await api.http.get("/api/v1/me", headers=user.auth)
    assert assert_error(response, 401)["code"] == "invalid_token"


async def test_a_token_is_good_until_it_expires(api: Api) -> None:
    user = await sign_up(api.http, "alice")
    soon = datetime.now(UTC) + timedelta(minutes=1)
    await api.execute(
        auth_tokens.update().where(auth_tokens.c.user_id == user.id).values(expires_at=soon)
    )
    assert ok(await api.http.get("/api/v1/me", headers=user.auth))["id"] == user.id


async def test_token_lifetime_follows_the_setting(settings: Settings) -> None:
    async with open_api(dataclasses.replace(settings, token_ttl_days=2)) as api:
        await register(api.http, "alice")
        session = ok(
            await api.http.post(
                "/api/v1/auth/tokens", json={"username": "alice", "password": PASSWORD}
            ),
            201,
        )
        left = parse_timestamp(session["expires_at"]) - datetime.now(UTC)
        assert timedelta(days=2) - timedelta(minutes=1) < left <= timedelta(days=2)
