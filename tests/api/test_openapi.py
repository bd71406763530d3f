"""The whole API is documented in /openapi.json and browsable at /docs."""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import ValidationError

from chatd.api.schemas import CONTROL, MAX_ID, SPACE, ChatsGet
from chatd.app import create_app
from chatd.config import Settings
from chatd.core.accounts import PASSWORD_MAX, PASSWORD_MIN, check_email, check_password
from chatd.core.chats import CHAT_NAME_MAX
from chatd.core.errors import InvalidInput
from chatd.core.messages import check_text
from chatd.core.users import USERNAME_MAX, check_characters, check_name

V1_OPERATIONS = {
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/auth/tokens"),
    ("delete", "/api/v1/auth/tokens/current"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/rules"),
    ("get", "/api/v1/chats"),
    ("post", "/api/v1/chats"),
    ("get", "/api/v1/chats/{chat_id}"),
    ("patch", "/api/v1/chats/{chat_id}"),
    ("delete", "/api/v1/chats/{chat_id}"),
    ("post", "/api/v1/chats/{chat_id}/leave"),
    ("post", "/api/v1/chats/{chat_id}/read"),
    ("get", "/api/v1/chats/{chat_id}/messages"),
    ("post", "/api/v1/chats/{chat_id}/messages"),
    ("post", "/api/v1/direct/{user_id}/messages"),
    ("patch", "/api/v1/messages/{message_id}"),
    ("delete", "/api/v1/messages/{message_id}"),
    ("put", "/api/v1/messages/{message_id}/reactions/{emoji}"),
    ("delete", "/api/v1/messages/{message_id}/reactions/{emoji}"),
    ("get", "/api/v1/search"),
    ("put", "/api/v1/users/{user_id}/block"),
    ("delete", "/api/v1/users/{user_id}/block"),
}
ERROR_REF = "#/components/schemas/ErrorOut"


async def test_every_v1_operation_is_documented_with_its_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    documented = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/api/v1/")
    }
    assert documented == V1_OPERATIONS
    for method, path in V1_OPERATIONS:
        responses = schema["paths"][path][method]["responses"]
        errors = {status: body for status, body in responses.items() if status >= "400"}
        assert "400" in errors
        for body in errors.values():
            assert body["content"]["application/json"]["schema"]["$ref"] == ERROR_REF
        if method in ("post", "patch") and not path.endswith(("/leave", "/current")):
            assert "requestBody" in schema["paths"][path][method], (method, path)


async def test_no_operation_documents_fastapi_validation_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in str(schema)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()


async def test_docs_assets_are_served_locally(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "cdn." not in page
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200


# The schema states the rules the server enforces (issue 14): each keyword agrees with the core
# check it stands for, on strings chosen to sit on the rules' edges.

SPACES = "\t\n\x0b\x0c\r\x1c\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
# Not whitespace to Python, though ECMA-262 or Rust count some as such: \ufeff, \u180e, \u200b.
OTHERS = "aZ0@.-_é中🙂\x00\x01\x7f\x9f\xad\ufeff\u180e\u200b"


def _strings(seed: int, count: int, limit: int) -> list[str]:
    """Strings around a length limit, padded with whitespace and sprinkled with characters the
    rules treat apart. No lone surrogates: no pattern can name them (schemas.py), nor UTF-8."""
    rng = random.Random(seed)
    alphabet = SPACES + OTHERS
    found = [""]
    for _ in range(count):
        length = rng.choice([rng.randint(0, limit + 1), limit - 1, limit, limit + 1])
        core = "".join(rng.choice(OTHERS[:10]) for _ in range(length))
        pad = "".join(rng.choice(SPACES) for _ in range(rng.randint(0, 3)))
        noise = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        at = rng.randint(0, len(core))
        found += [pad + core + pad[::-1], core[:at] + noise + core[at:], noise, pad]
    return found


def _accepted(check: Callable[[Any], object], value: Any) -> bool:
    try:
        check(value)
    except (InvalidInput, ValidationError):
        return False
    return True


def _schema(**settings: Any) -> dict[str, Any]:
    return create_app(Settings(**settings)).openapi()


def _property(schema: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    found: dict[str, Any] = body["properties"][name]
    return found


def _emails(seed: int) -> list[str]:
    rng = random.Random(seed)
    parts = ["a", "b.c", "x" * 120, "é", "a b", "@", "", "\x00", ".", "a\tb"]
    found = []
    for _ in range(400):
        pad = rng.choice(["", " ", "\t\u3000", "\x85"])
        local, domain, top = (rng.choice(parts) for _ in range(3))
        found += [f"{pad}{local}@{domain}.{top}{pad}", f"{local}@{domain}{top}"]
    return found


TEXT_MAX = 40
STRING_RULES: list[tuple[str, str, str, Callable[[str], object], list[str]]] = [
    (
        "/users/add",
        "post",
        "username",
        lambda v: check_name(v, field="username", max_length=USERNAME_MAX),
        _strings(1, 300, USERNAME_MAX),
    ),
    (
        "/api/v1/users",
        "post",
        "username",
        lambda v: check_name(v, field="username", max_length=USERNAME_MAX),
        _strings(2, 300, USERNAME_MAX),
    ),
    (
        "/chats/add",
        "post",
        "name",
        lambda v: check_name(v, field="name", max_length=CHAT_NAME_MAX),
        _strings(3, 300, CHAT_NAME_MAX),
    ),
    (
        "/api/v1/chats",
        "post",
        "name",
        lambda v: check_name(v, field="name", max_length=CHAT_NAME_MAX),
        _strings(4, 300, CHAT_NAME_MAX),
    ),
    (
        "/messages/add",
        "post",
        "text",
        lambda v: check_text(v, TEXT_MAX),
        _strings(5, 300, TEXT_MAX),
    ),
    (
        "/api/v1/chats/{chat_id}/messages",
        "post",
        "text",
        lambda v: check_text(v, TEXT_MAX),
        _strings(6, 300, TEXT_MAX),
    ),
    (
        "/api/v1/users",
        "post",
        "password",
        check_password,
        [*_strings(7, 300, PASSWORD_MIN), "x" * PASSWORD_MAX, "x" * (PASSWORD_MAX + 1)],
    ),
    ("/api/v1/users", "post", "email", check_email, _strings(8, 100, 8) + _emails(9)),
    (
        "/api/v1/auth/tokens",
        "post",
        "password",
        lambda v: check_characters(v, field="password"),
        _strings(10, 100, 8),
    ),
]


@pytest.mark.parametrize(
    ("path", "method", "name", "check", "values"),
    STRING_RULES,
    ids=[f"{method} {path} {name}" for path, method, name, *_ in STRING_RULES],
)
def test_each_string_field_is_described_by_the_rule_its_core_check_applies(
    path: str, method: str, name: str, check: Callable[[str], object], values: list[str]
) -> None:
    field = _property(_schema(max_text_length=TEXT_MAX), path, method, name)
    described = jsonschema.Draft202012Validator(field)
    disagree = [v for v in values if described.is_valid(v) != _accepted(check, v)]
    assert not disagree, disagree[:5]
    assert any(described.is_valid(v) for v in values)


def test_the_character_classes_hold_for_every_code_point() -> None:
    # schemas.py scans the Basic Multilingual Plane for whitespace and Latin-1 for controls.
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    spaces = "".join(c for c in everything if c.isspace())
    controls = "".join(c for c in everything if unicodedata.category(c) == "Cc")
    assert "".join(re.findall(f"[{SPACE}]", everything)) == spaces
    assert "".join(re.findall(f"[{CONTROL}]", everything)) == controls


@pytest.mark.parametrize("name", ["username", "prefix"])
def test_a_user_search_is_described_as_not_blank(name: str) -> None:
    parameters = _schema()["paths"]["/api/v1/users"]["get"]["parameters"]
    (parameter,) = [p for p in parameters if p["name"] == name]
    described = jsonschema.Draft202012Validator(parameter["schema"])

    def check(value: str) -> None:
        if not check_characters(value, field=name).strip():
            raise InvalidInput("blank")

    values = _strings(11, 200, 4)
    assert [v for v in values if described.is_valid(v) != _accepted(check, v)] == []


ID_STRINGS = [
    "0",
    "1",
    "007",
    "17",
    f"{MAX_ID}",
    f"{MAX_ID + 1}",
    f"0{MAX_ID // 10}",
    "9" * 19,
    "1" * 20,
    "+1",
    " 1",
    "1.0",
    "",
    "٣",
]


def test_ids_are_described_as_the_server_takes_them() -> None:
    schema = _schema()
    body_id = jsonschema.Draft202012Validator(_property(schema, "/chats/get", "post", "user"))
    for value in [*ID_STRINGS, 0, 1, MAX_ID, MAX_ID + 1, -1, True, 1.5]:
        assert body_id.is_valid(value) == _accepted(
            lambda v: ChatsGet.model_validate({"user": v}), value
        ), value
    path_id = schema["paths"]["/api/v1/chats/{chat_id}"]["delete"]["parameters"][0]["schema"]
    assert path_id["minimum"] == 1
    assert path_id["maximum"] == MAX_ID  # exact: not a float rounded up to 2**63


def test_the_text_length_is_the_configured_one() -> None:
    schema = _schema(max_text_length=123)
    for path in ("/messages/add", "/api/v1/chats/{chat_id}/messages"):
        assert _property(schema, path, "post", "text")["maxLength"] == 123
    assert "x-max-length-setting" not in json.dumps(schema)
    assert _property(_schema(), "/messages/add", "post", "text")["maxLength"] == 10_000


def test_every_v1_write_documents_its_idempotency_key_and_every_operation_503() -> None:
    schema = _schema()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "503" in operation["responses"], (method, path)
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            write = path.startswith("/api/v1/") and method != "get"
            assert ("Idempotency-Key" in names) == write, (method, path)
            if write:
                assert {"409", "422"} <= operation["responses"].keys(), (method, path)
    key = next(
        p
        for p in schema["paths"]["/api/v1/chats"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    pattern = jsonschema.Draft202012Validator(key["schema"])
    assert all(pattern.is_valid(v) for v in ["7f3c", "a b", "x" * 255])
    assert not any(pattern.is_valid(v) for v in ["", " a", "a ", "x" * 256, "a\x7fb", "a\x00"])


async def test_an_avito_listing_with_a_private_chat_matches_its_schema(
    client: httpx.AsyncClient,
) -> None:
    for name in ("alice", "bob"):
        await client.post("/api/v1/users", json={"username": name, "password": "password123"})
    login = {"username": "alice", "password": "password123"}
    token = (await client.post("/api/v1/auth/tokens", json=login)).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    sent = await client.post("/api/v1/direct/2/messages", json={"text": "hi"}, headers=auth)
    assert sent.status_code == 201
    listing = await client.post("/chats/get", json={"user": 1})
    schema = (await client.get("/openapi.json")).json()
    documented = schema["paths"]["/chats/get"]["post"]["responses"]["200"]["content"]
    expected = {**documented["application/json"]["schema"], "components": schema["components"]}
    assert listing.json()[0]["name"] is None  # a private chat has no name
    jsonschema.validate(listing.json(), expected)
