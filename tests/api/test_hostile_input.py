"""Hostile input at the HTTP layer, in both APIs: an error never echoes a client's input at
length; a wrong method is answered with every method the path has; HEAD is answered wherever
GET is; and a body that is not JSON is `malformed_json` in both APIs, whatever is wrong with it."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.api.v1_helpers import Api, sign_up

MEGABYTE = 1024 * 1024
BROKEN_BODIES = {
    "invalid UTF-8": b'\xff\xfe{"username": "x"}',
    "unfinished": b'{"username": "ab',
    "nested too deep": b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "only brackets": b"[" * 100_000,
}


async def test_an_error_quotes_at_most_a_few_dozen_characters_of_the_input(api: Api) -> None:
    long_email = "x" * (MEGABYTE - 1000) + "@"  # under the body limit
    body = {"username": "mallory", "password": "long enough password", "email": long_email}
    response = await api.http.post("/api/v1/users", json=body)
    error = assert_error(response, 400)
    assert error["code"] == "invalid_email"
    assert len(response.content) < 500, response.text
    assert "characters)" in error["message"]  # and says how long it was

    long_path = "/nope/" + "a" * 60_000
    response = await api.http.get(long_path)
    assert_error(response, 404)
    assert len(response.content) < 500

    alice = await sign_up(api.http, "alice")
    params = {"username": "y" * 60_000}
    response = await api.http.get("/api/v1/users", params=params, headers=alice.auth)
    assert len(response.content) < 500, response.text


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/chats", "GET, HEAD, POST"),
        ("/api/v1/chats/1", "DELETE, GET, HEAD, PATCH"),
        ("/users/add", "POST"),
        ("/", "GET, HEAD"),
    ],
)
async def test_a_wrong_method_lists_every_method_of_the_path(
    api: Api, path: str, allowed: str
) -> None:
    for method in ("OPTIONS", "PUT"):
        response = await api.http.request(method, path)
        assert_error(response, 405)
        assert response.headers["allow"] == allowed


async def test_head_is_answered_wherever_get_is(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    for path, headers in (("/", {}), ("/api/v1/chats", alice.auth), ("/openapi.json", {})):
        got = await api.http.get(path, headers=headers)
        head = await api.http.head(path, headers=headers)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    # Where GET is refused, HEAD is refused alike.
    assert (await api.http.head("/api/v1/chats")).status_code == 401


@pytest.mark.parametrize("broken", BROKEN_BODIES)
@pytest.mark.parametrize("path", ["/users/add", "/api/v1/users", "/api/v1/auth/tokens"])
async def test_a_body_that_is_not_json_is_malformed_json_in_both_apis(
    api: Api, path: str, broken: str
) -> None:
    headers = {"content-type": "application/json"}
    response = await api.http.post(path, content=BROKEN_BODIES[broken], headers=headers)
    assert assert_error(response, 400)["code"] == "malformed_json"


async def test_the_error_shape_holds_for_what_the_framework_refuses(
    client: httpx.AsyncClient,
) -> None:
    response = await client.request("OPTIONS", "/api/v1/users")
    assert_error(response, 405)
