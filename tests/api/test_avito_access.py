"""CHATD_AVITO_API: the Avito API open to all (the default), behind a shared key, or off."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import httpx
import pytest

from chatd import cli
from chatd.config import Settings
from tests.api.helpers import app_client, assert_error

KEY = "k3y-0f-the-avito-backend-0123456789"
BEARER = {"Authorization": f"Bearer {KEY}"}
PATHS = ["/users/add", "/chats/add", "/messages/add", "/chats/get", "/messages/get"]
# A walk through all five methods on an empty database: (path, body, status it answers).
WALK: list[tuple[str, dict[str, Any], int]] = [
    ("/users/add", {"username": "alice"}, 201),
    ("/chats/add", {"name": "general", "users": [1]}, 201),
    ("/messages/add", {"chat": 1, "author": 1, "text": "hi"}, 201),
    ("/chats/get", {"user": 1}, 200),
    ("/messages/get", {"chat": 1}, 200),
]


def _with(settings: Settings, mode: str, key: str = "") -> Settings:
    return dataclasses.replace(settings, avito_api=mode, avito_api_key=key)


async def _walk(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for path, body, status in WALK:
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == status, (path, response.text)
    messages = await client.post("/messages/get", json={"chat": 1}, headers=headers)
    assert [m["text"] for m in messages.json()] == ["hi"]


def _assert_unauthenticated(response: httpx.Response) -> None:
    error = assert_error(response, 401)
    assert error["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_open_api_needs_no_key(settings: Settings) -> None:
    async with app_client(settings) as client:
        assert settings.avito_api == "open"
        await _walk(client, {})


async def test_key_mode_serves_every_method_to_the_key(settings: Settings) -> None:
    async with app_client(_with(settings, "key", KEY)) as client:
        await _walk(client, BEARER)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_scheme_is_case_insensitive(settings: Settings, scheme: str) -> None:
    # RFC 9110 §11.1: an authentication scheme is matched ignoring case; the key is not.
    async with app_client(_with(settings, "key", KEY)) as client:
        response = await client.post(
            "/users/add", json={"username": "alice"}, headers={"Authorization": f"{scheme} {KEY}"}
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        KEY,
        f"Basic {KEY}",
        f"Token {KEY}",
        f"Bearer {KEY.upper()}",
        f"Bearer {KEY[:-1]}",
        f"Bearer {KEY}x",
        f"Bearer {KEY[:16]}",
        "Bearer wrong-key-of-some-length",
    ],
)
async def test_a_missing_or_wrong_key_is_refused_on_every_route(
    settings: Settings, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with app_client(_with(settings, "key", KEY)) as client:
        for path, body, _status in WALK:
            _assert_unauthenticated(await client.post(path, json=body, headers=headers))
        # Nothing was written: with the key, the walk starts from an empty database.
        await _walk(client, BEARER)


async def test_the_key_is_checked_before_the_body(settings: Settings) -> None:
    async with app_client(_with(settings, "key", KEY)) as client:
        for path in PATHS:
            _assert_unauthenticated(await client.post(path, content=b"{not json"))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_the_key_is_checked_for_every_method(settings: Settings, method: str) -> None:
    # Other methods go on to FastAPI's registered routes: the same one check covers them.
    async with app_client(_with(settings, "key", KEY)) as client:
        for path in PATHS:
            _assert_unauthenticated(await client.request(method, path))
            answer = await client.request(method, path, headers=BEARER)
            assert_error(answer, 405)


@pytest.mark.parametrize("method", ["POST", "GET", "PUT", "DELETE"])
@pytest.mark.parametrize("headers", [{}, BEARER], ids=["no-key", "key"])
async def test_off_answers_every_avito_path_as_an_unknown_route(
    settings: Settings, method: str, headers: dict[str, str]
) -> None:
    async with app_client(_with(settings, "off", KEY)) as client:
        unknown = await client.request(method, "/nothing/here", json={}, headers=headers)
        assert_error(unknown, 404)
        for path, body, _status in WALK:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == unknown.status_code
            assert response.json() == {
                "error": {"code": "not_found", "message": f"no such endpoint: {method} {path}"}
            }
            assert unknown.json()["error"]["message"] == f"no such endpoint: {method} /nothing/here"
            assert _headers(response) == _headers(unknown)


PER_REQUEST = "x-request-id"


def _headers(response: httpx.Response) -> dict[str, str]:
    # Each response has its own request id (api/access_log.py).
    return {k: v for k, v in response.headers.items() if k not in ("content-length", PER_REQUEST)}


async def test_off_leaves_api_v1_working(settings: Settings) -> None:
    async with app_client(_with(settings, "off")) as client:
        user = {"username": "alice", "password": "correct horse"}
        assert (await client.post("/api/v1/users", json=user)).status_code == 201


async def test_openapi_documents_the_key_and_drops_the_paths_when_off(settings: Settings) -> None:
    async with app_client(settings) as client:
        schema = (await client.get("/openapi.json")).json()
        assert set(PATHS) <= set(schema["paths"])
        assert "AvitoApiKey" not in schema["components"]["securitySchemes"]
        assert all("security" not in schema["paths"][p]["post"] for p in PATHS)
    async with app_client(_with(settings, "key", KEY)) as client:
        schema = (await client.get("/openapi.json")).json()
        scheme = schema["components"]["securitySchemes"]["AvitoApiKey"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        for path in PATHS:
            operation = schema["paths"][path]["post"]
            assert operation["security"] == [{"AvitoApiKey": []}]
            assert "401" in operation["responses"]
        assert "security" not in schema["paths"]["/api/v1/users"]["post"]
    async with app_client(_with(settings, "off")) as client:
        schema = (await client.get("/openapi.json")).json()
        assert not set(PATHS) & set(schema["paths"])
        assert "/api/v1/users" in schema["paths"]


# Start-up: the key mode without a usable key is a configuration error, not an open API.


@pytest.mark.parametrize("key", ["", "short", "x" * 15])
def test_key_mode_without_a_long_enough_key_does_not_start(key: str) -> None:
    with pytest.raises(ValueError, match="CHATD_AVITO_API_KEY"):
        Settings(avito_api="key", avito_api_key=key)
    env = {"CHATD_AVITO_API": "key", "CHATD_AVITO_API_KEY": key}
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CHATD_AVITO_API", "closed"),
        ("CHATD_AVITO_API", ""),
        ("CHATD_AVITO_API_KEY", "has a space in it, long enough"),
        ("CHATD_AVITO_API_KEY", "non-ascii-key-ключ-0123456789"),
    ],
)
def test_a_bad_mode_or_key_names_its_variable(variable: str, raw: str) -> None:
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: raw})


def test_the_mode_is_read_in_any_case_and_the_key_kept_out_of_repr() -> None:
    settings = Settings.from_env({"CHATD_AVITO_API": "KEY", "CHATD_AVITO_API_KEY": KEY})
    assert (settings.avito_api, settings.avito_api_key) == ("key", KEY)
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("host", "mode", "warned"),
    [
        ("0.0.0.0", "open", True),
        ("::", "open", True),
        ("192.0.2.7", "open", True),
        ("chat.example", "open", True),
        ("127.0.0.1", "open", False),
        ("::1", "open", False),
        ("localhost", "open", False),
        ("0.0.0.0", "key", False),
        ("0.0.0.0", "off", False),
    ],
)
def test_an_open_api_on_a_public_address_is_warned_of_at_start(
    host: str, mode: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(host=host, avito_api=mode, avito_api_key=KEY if mode == "key" else "")
    with caplog.at_level(logging.INFO, logger="chatd"):
        cli.announce(settings)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) is warned
    assert all(KEY not in r.getMessage() for r in caplog.records)
