"""The body limit (api/limits.py): one 413 for both APIs, however the body is framed.

Each body is a valid registration padded with spaces to an exact size: under and at the limit it
is accepted, one byte over it is refused before the app runs, and nothing is stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from chatd.config import Settings
from tests.api.helpers import assert_error
from tests.api.v1_helpers import PASSWORD, Api, open_api, sign_up

LIMIT = 300
MiB = 1024 * 1024

# Per API: a write whose body the route parses, and the status of a valid one.
WRITES = {
    "avito": ("/users/add", 201),
    "v1": ("/api/v1/users", 201),
}


def _padded(body: dict[str, Any], size: int) -> bytes:
    raw = orjson.dumps(body)
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


async def _chunks(raw: bytes, chunk: int) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), chunk):
        yield raw[start : start + chunk]


def _registration(username: str) -> dict[str, Any]:
    return {"username": username, "password": PASSWORD}


def _request(
    http: httpx.AsyncClient, path: str, raw: bytes, framing: str, chunk: int = 64
) -> httpx.Request:
    headers = {"content-type": "application/json"}
    if framing == "content-length":
        request = http.build_request("POST", path, content=raw, headers=headers)
        assert request.headers["content-length"] == str(len(raw))
        return request
    request = http.build_request("POST", path, content=_chunks(raw, chunk), headers=headers)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    return request


async def _usernames(api: Api) -> list[str]:
    return [row[0] for row in await api.rows("SELECT username FROM users ORDER BY username")]


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[Api]:
    """The app with a body limit of LIMIT bytes."""
    async with open_api(dataclasses.replace(settings, max_body_bytes=LIMIT)) as opened:
        yield opened


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("api_name", list(WRITES))
async def test_bodies_up_to_the_limit_are_read_and_one_byte_more_is_too_large(
    small: Api, subtests: pytest.Subtests, api_name: str, framing: str
) -> None:
    path, created = WRITES[api_name]
    for size, status in ((LIMIT - 1, created), (LIMIT, created), (LIMIT + 1, 413)):
        with subtests.test(size=size):
            raw = _padded(_registration(f"user-{size}"), size)
            response = await small.http.send(_request(small.http, path, raw, framing))
            if status == 413:
                error = assert_error(response, 413, str(LIMIT))
                assert error["code"] == "payload_too_large"
            else:
                assert response.status_code == status, response.text
    assert await _usernames(small) == [f"user-{LIMIT - 1}", f"user-{LIMIT}"]


@pytest.mark.parametrize("chunk", [1, 7, LIMIT, LIMIT + 1], ids=lambda n: f"chunk{n}")
@pytest.mark.parametrize("api_name", list(WRITES))
async def test_a_chunked_body_over_the_limit_is_too_large_whatever_its_chunks(
    small: Api, api_name: str, chunk: int
) -> None:
    path, _ = WRITES[api_name]
    raw = _padded(_registration("over"), LIMIT * 3)
    response = await small.http.send(_request(small.http, path, raw, "chunked", chunk))
    assert assert_error(response, 413)["code"] == "payload_too_large"
    assert await _usernames(small) == []


async def test_every_v1_write_refuses_a_chunked_body_over_the_limit(small: Api) -> None:
    alice = await sign_up(small.http, "alice")
    raw = _padded({"text": "hi"}, LIMIT + 1)
    for method, path in [
        ("POST", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/chats"),
        ("PATCH", "/api/v1/chats/1"),
        ("POST", "/api/v1/chats/1/read"),
        ("POST", "/api/v1/chats/1/messages"),
        ("POST", f"/api/v1/direct/{alice.id}/messages"),
        ("PATCH", "/api/v1/messages/1"),
    ]:
        request = small.http.build_request(
            method, path, content=_chunks(raw, 50), headers=alice.auth
        )
        response = await small.http.send(request)
        assert assert_error(response, 413)["code"] == "payload_too_large", (method, path)
    assert await small.rows("SELECT id FROM chats") == []


async def test_a_chunked_v1_body_over_the_default_limit_is_too_large(api: Api) -> None:
    assert api.app.state.settings.max_body_bytes == MiB
    raw = _padded(_registration("alice"), MiB + 1)
    response = await api.http.send(_request(api.http, "/api/v1/users", raw, "chunked", 64 * 1024))
    assert assert_error(response, 413, str(MiB))["code"] == "payload_too_large"
    assert await _usernames(api) == []


async def test_a_content_length_that_understates_the_body_cannot_slip_past(small: Api) -> None:
    # The length header is under the limit; the body that follows is not. Only what arrives counts.
    raw = _padded(_registration("sneaky"), LIMIT + 50)
    request = small.http.build_request(
        "POST",
        "/api/v1/users",
        content=_chunks(raw, 64),
        headers={"content-type": "application/json", "content-length": "10"},
    )
    response = await small.http.send(request)
    assert assert_error(response, 413)["code"] == "payload_too_large"
    assert await _usernames(small) == []
