"""POST /users/add: names are trimmed, bounded, free of control characters, unique ignoring case."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import add_user, assert_error, created_id


async def test_add_user_returns_201_with_an_integer_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/add", json={"username": "user_1"})
    assert created_id(response) >= 1


async def test_each_user_gets_a_distinct_id(client: httpx.AsyncClient) -> None:
    ids = [await add_user(client, f"user_{n}") for n in range(5)]
    assert len(set(ids)) == 5


async def test_taken_username_is_a_conflict(client: httpx.AsyncClient) -> None:
    await add_user(client, "alice")
    response = await client.post("/users/add", json={"username": "alice"})
    assert assert_error(response, 409, "alice")["code"] == "username_taken"


@pytest.mark.parametrize(
    ("first", "second"),
    [("Alice", "alice"), ("alice", "ALICE"), ("Ölaf", "öLAF"), ("Straße", "STRASSE")],
)
async def test_usernames_differing_only_in_case_clash(
    client: httpx.AsyncClient, first: str, second: str
) -> None:
    await add_user(client, first)
    response = await client.post("/users/add", json={"username": second})
    assert assert_error(response, 409)["code"] == "username_taken"


async def test_username_is_trimmed_before_the_uniqueness_check(client: httpx.AsyncClient) -> None:
    await add_user(client, "  bob\t")
    response = await client.post("/users/add", json={"username": "bob"})
    assert_error(response, 409)


async def test_username_of_64_characters_is_accepted(client: httpx.AsyncClient) -> None:
    await add_user(client, "u" * 64)


async def test_username_of_65_characters_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/add", json={"username": "u" * 65})
    assert assert_error(response, 400, "username", "64")["code"] == "invalid_username"


async def test_username_length_counts_after_trimming(client: httpx.AsyncClient) -> None:
    await add_user(client, "  " + "u" * 64 + "  ")


async def test_username_length_counts_characters_not_bytes(client: httpx.AsyncClient) -> None:
    await add_user(client, "я" * 32 + "🙂" * 32)


async def test_username_that_expands_under_unicode_normalization_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    # U+FDFA is one character that NFKC turns into 18: the comparison key of a valid 64-character
    # name may be far longer than the name itself.
    await add_user(client, "\ufdfa" * 64)


@pytest.mark.parametrize("username", ["", " ", "\t\n ", "\u3000"])
async def test_empty_or_blank_username_is_rejected(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post("/users/add", json={"username": username})
    assert assert_error(response, 400, "username")["code"] == "invalid_username"


@pytest.mark.parametrize("username", ["a\x00b", "a\nb", "a\tb", "a\x1b[31mb", "a\x7fb", "a\x85b"])
async def test_username_with_a_control_character_is_rejected(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post("/users/add", json={"username": username})
    assert assert_error(response, 400, "username", "control")["code"] == "invalid_username"


@pytest.mark.parametrize(
    "username", ["Алиса", "山田 太郎", "🙂🚀", "o'brien", "Robert'); DROP TABLE users;--"]
)
async def test_unicode_and_punctuation_in_username_are_accepted(
    client: httpx.AsyncClient, username: str
) -> None:
    await add_user(client, username)
    response = await client.post("/users/add", json={"username": username})
    assert_error(response, 409)


@pytest.mark.parametrize("username", [5, 1.5, True, None, ["alice"], {"name": "alice"}])
async def test_username_that_is_not_a_string_is_rejected(
    client: httpx.AsyncClient, username: object
) -> None:
    response = await client.post("/users/add", json={"username": username})
    assert assert_error(response, 400, "username")["code"] == "invalid_field"


async def test_missing_username_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/add", json={"name": "alice"})
    assert assert_error(response, 400, "username")["code"] == "missing_field"
