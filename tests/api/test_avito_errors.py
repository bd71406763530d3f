"""What every method shares: body parsing, id rules, error shape, limits, routes, OpenAPI."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from chatd.config import Settings
from tests.api.helpers import (
    add_chat,
    add_user,
    app_client,
    assert_error,
    created_id,
    get_chats,
    get_messages,
    send,
)

MAX_ID = 2**63 - 1
MiB = 1024 * 1024

# One well-formed body per method; ids point at nothing, so only parsing is exercised.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/users/add": {"username": "alice"},
    "/chats/add": {"name": "general", "users": [1]},
    "/messages/add": {"chat": 1, "author": 1, "text": "hi"},
    "/chats/get": {"user": 1},
    "/messages/get": {"chat": 1},
}
PATHS = list(VALID_BODIES)

# (path, field) for every place an id goes; `users` takes a list of ids.
ID_FIELDS = [
    ("/chats/add", "users"),
    ("/messages/add", "chat"),
    ("/messages/add", "author"),
    ("/chats/get", "user"),
    ("/messages/get", "chat"),
    ("/messages/get", "before"),
    ("/messages/get", "after"),
]

BAD_IDS: list[object] = [
    True,
    False,
    1.0,
    1.5,
    {"id": 1},
    [1],
    0,
    -1,
    2**63,
    2**64 - 1,
    10**30,
    "",
    "abc",
    "0",
    "-1",
    "1.5",
    " 1",
    "1e3",
    "0x1f",
    "9223372036854775808",
    "\u0661\u0667",  # Arabic-Indic digits: numeric to Python, not to us
]


def _with_id(path: str, field: str, value: object) -> dict[str, Any]:
    body = dict(VALID_BODIES[path])
    if field == "users":
        body["users"] = [value]
    else:
        body[field] = value
    if field in ("before", "after"):
        body["limit"] = 10
    return body


# Malformed bodies: every method parses its body the same way, so each case tries all five.

MALFORMED = {
    "open": b"{",
    "word": b"not json",
    "single_quotes": b"{'username': 'alice'}",
    "trailing_comma": b'{"username": "alice",}',
    "trailing_text": b'{"username": "alice"} trailing',
    "nan": b'{"username": NaN}',
    "bad_utf8": b'{"username": "\xff\xfe"}',
    "lone_surrogate": b'{"username": "\\ud800"}',
    "too_deep": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_json_is_a_bad_request(
    client: httpx.AsyncClient, subtests: pytest.Subtests, raw: bytes
) -> None:
    for path in PATHS:
        with subtests.test(path=path):
            response = await client.post(path, content=raw)
            assert assert_error(response, 400, "JSON")["code"] == "malformed_json"


@pytest.mark.parametrize("raw", [b"", b"  \n "], ids=["empty", "whitespace"])
async def test_empty_body_is_a_bad_request(
    client: httpx.AsyncClient, subtests: pytest.Subtests, raw: bytes
) -> None:
    for path in PATHS:
        with subtests.test(path=path):
            response = await client.post(path, content=raw)
            assert assert_error(response, 400)["code"] == "empty_body"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"null", "null"),
        (b"[]", "array"),
        (b'[{"username": "alice"}]', "array"),
        (b'"alice"', "string"),
        (b"17", "number"),
        (b"true", "boolean"),
    ],
)
async def test_body_that_is_not_an_object_is_a_bad_request(
    client: httpx.AsyncClient, subtests: pytest.Subtests, raw: bytes, kind: str
) -> None:
    for path in PATHS:
        with subtests.test(path=path):
            response = await client.post(path, content=raw)
            assert assert_error(response, 400, kind)["code"] == "invalid_body"


@pytest.mark.parametrize("path", PATHS)
async def test_empty_object_names_a_missing_field(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, json={})
    required = next(iter(VALID_BODIES[path]))
    assert assert_error(response, 400, required)["code"] == "missing_field"


# Ids


@pytest.mark.parametrize(("path", "field"), ID_FIELDS)
async def test_id_that_is_not_a_positive_64_bit_integer_is_rejected(
    client: httpx.AsyncClient, subtests: pytest.Subtests, path: str, field: str
) -> None:
    for value in BAD_IDS:
        with subtests.test(value=value):
            response = await client.post(path, json=_with_id(path, field, value))
            assert assert_error(response, 400, field)["code"] == "invalid_field"


@pytest.mark.parametrize(
    ("path", "field"),
    [(path, field) for path, field in ID_FIELDS if field not in ("before", "after")],
)
async def test_null_id_is_rejected(client: httpx.AsyncClient, path: str, field: str) -> None:
    response = await client.post(path, json=_with_id(path, field, None))
    assert assert_error(response, 400, field)["code"] == "invalid_field"


@pytest.mark.parametrize(("path", "field"), ID_FIELDS)
async def test_largest_id_is_valid_and_simply_not_found(
    client: httpx.AsyncClient, subtests: pytest.Subtests, path: str, field: str
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    await send(client, chat, alice, "hi")
    bodies: dict[str, dict[str, Any]] = {
        "/chats/add": {"name": "c", "users": [alice]},
        "/messages/add": {"chat": chat, "author": alice, "text": "hi"},
        "/chats/get": {"user": alice},
        "/messages/get": {"chat": chat, "limit": 10},
    }
    for value in (MAX_ID, str(MAX_ID)):
        with subtests.test(value=value):
            body = dict(bodies[path])
            body[field] = [alice, value] if field == "users" else value
            response = await client.post(path, json=body)
            assert_error(response, 404, str(MAX_ID))


@pytest.mark.parametrize("padding", ["", "00"], ids=["plain", "leading_zeros"])
async def test_numeric_string_id_is_read_as_its_number(
    client: httpx.AsyncClient, padding: str
) -> None:
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    response = await client.post("/chats/get", json={"user": f"{padding}{alice}"})
    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == [chat]


# Content types and unknown fields


async def test_body_without_a_content_type_is_read_as_json(client: httpx.AsyncClient) -> None:
    request = client.build_request("POST", "/users/add", content=b'{"username": "alice"}')
    assert "content-type" not in request.headers
    created_id(await client.send(request))


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "application/octet-stream"],
)
async def test_body_with_another_content_type_is_read_as_json(
    client: httpx.AsyncClient, content_type: str
) -> None:
    # `curl -d '{"username": "alice"}'` sends a form content type.
    response = await client.post(
        "/users/add",
        content=b'{"username": "alice"}',
        headers={"content-type": content_type},
    )
    created_id(response)


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    extra = {"token": "x", "id": 999, "created_at": "yesterday", "nested": {"a": [1]}}
    alice = created_id(await client.post("/users/add", json={"username": "alice", **extra}))
    chat = created_id(
        await client.post("/chats/add", json={"name": "general", "users": [alice], **extra})
    )
    message = created_id(
        await client.post(
            "/messages/add", json={"chat": chat, "author": alice, "text": "hi", **extra}
        )
    )
    chats = await client.post("/chats/get", json={"user": alice, **extra})
    assert [c["id"] for c in chats.json()] == [chat]
    messages = await client.post("/messages/get", json={"chat": chat, **extra})
    assert [m["id"] for m in messages.json()] == [message]
    assert messages.json()[0]["text"] == "hi"


# Body size


def _padded(body: dict[str, Any], size: int) -> bytes:
    raw = orjson.dumps(body)
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


async def _chunks(raw: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), chunk):
        yield raw[start : start + chunk]


async def test_body_of_exactly_1_mib_is_accepted(client: httpx.AsyncClient) -> None:
    created_id(await client.post("/users/add", content=_padded({"username": "alice"}, MiB)))


async def test_body_over_1_mib_is_too_large(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/add", content=_padded({"username": "alice"}, MiB + 1))
    assert assert_error(response, 413)["code"] == "payload_too_large"
    created_id(await client.post("/users/add", json={"username": "alice"}))


async def test_chunked_body_over_1_mib_is_too_large(client: httpx.AsyncClient) -> None:
    request = client.build_request(
        "POST", "/users/add", content=_chunks(_padded({"username": "alice"}, MiB + 1))
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await client.send(request)
    assert assert_error(response, 413)["code"] == "payload_too_large"
    created_id(await client.post("/users/add", json={"username": "alice"}))


async def test_chunked_body_within_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    raw = _padded({"username": "alice"}, MiB)
    created_id(await client.post("/users/add", content=_chunks(raw)))


async def test_message_body_over_the_limit_is_too_large_before_the_text_rule(
    client: httpx.AsyncClient,
) -> None:
    body = {"chat": 1, "author": 1, "text": "x" * MiB}
    response = await client.post("/messages/add", json=body)
    assert assert_error(response, 413)["code"] == "payload_too_large"


async def test_body_limit_follows_the_max_body_bytes_setting(settings: Settings) -> None:
    small = dataclasses.replace(settings, max_body_bytes=100)
    async with app_client(small) as client:
        created_id(await client.post("/users/add", content=_padded({"username": "a"}, 100)))
        response = await client.post("/users/add", content=_padded({"username": "b"}, 101))
        assert_error(response, 413, "100")
        request = client.build_request(
            "POST", "/users/add", content=_chunks(_padded({"username": "c"}, 101), chunk=10)
        )
        assert_error(await client.send(request), 413)


# Routes and methods


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/users/get"),
        ("POST", "/nope"),
        # GET / is the web client (tests/ui).
        ("GET", "/nope"),
        ("POST", "/app"),
        ("POST", "/users"),
        ("POST", "/messages/add/extra"),
    ],
)
async def test_unknown_route_is_not_found(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json=VALID_BODIES["/users/add"])
    assert assert_error(response, 404, path)["code"] == "not_found"


@pytest.mark.parametrize("path", PATHS)
async def test_wrong_method_is_not_allowed_and_names_the_allowed_one(
    client: httpx.AsyncClient, subtests: pytest.Subtests, path: str
) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        with subtests.test(method=method):
            response = await client.request(method, path)
            assert assert_error(response, 405, method, path)["code"] == "method_not_allowed"
            assert [m.strip() for m in response.headers["allow"].split(",")] == ["POST"]


# Errors stay client errors


async def test_every_rejection_in_one_session_is_a_client_error(
    client: httpx.AsyncClient,
) -> None:
    # A mixed run of bad requests against one database, then proof it still works.
    alice = await add_user(client, "alice")
    chat = await add_chat(client, "general", [alice])
    bad: list[tuple[str, Any]] = [
        ("/users/add", {"username": "alice"}),
        ("/chats/add", {"name": "general", "users": [alice]}),
        ("/chats/add", {"name": "x", "users": [alice, 123456]}),
        ("/messages/add", {"chat": chat, "author": 31337, "text": "hi"}),
        ("/messages/add", {"chat": 31337, "author": alice, "text": "hi"}),
        ("/messages/get", {"chat": chat, "limit": 5, "before": 31337}),
        ("/chats/get", {"user": 31337}),
    ]
    for path, body in bad:
        response = await client.post(path, json=body)
        assert 400 <= response.status_code < 500, (path, body, response.text)
    await send(client, chat, alice, "still fine")
    assert [m["text"] for m in await get_messages(client, chat)] == ["still fine"]
    assert len(await get_chats(client, alice)) == 1


# OpenAPI


async def test_openapi_lists_the_five_methods_with_their_request_bodies(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    fields = {
        "/users/add": {"username"},
        "/chats/add": {"name", "users"},
        "/messages/add": {"chat", "author", "text", "reply_to"},
        "/chats/get": {"user"},
        "/messages/get": {"chat", "limit", "before", "after"},
    }
    for path, expected in fields.items():
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]
        assert body["required"] is True
        schema = body["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == expected, path
        assert set(schema["required"]) == expected - {"limit", "before", "after", "reply_to"}, path
        assert {"200", "201"} & set(operation["responses"]), path
        assert {"400", "413"} <= set(operation["responses"]), path


async def test_openapi_references_all_resolve(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document.get("components", {}).get("schemas", {})

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(document):
        prefix = "#/components/schemas/"
        assert ref.startswith(prefix), ref
        assert ref.removeprefix(prefix) in schemas, ref
