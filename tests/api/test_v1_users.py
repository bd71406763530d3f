"""API v1 user lookup: logged-in users find each other's ids by exact name or by prefix, and
names by ids."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import TIMESTAMP, add_user, assert_error
from tests.api.v1_helpers import Api, User, block, ok, register, sign_up, sign_up_many

PROFILE_KEYS = ["blocked", "created_at", "id", "last_seen_at", "online", "role", "username"]


async def _find(api: Api, viewer: User, **query: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(
        await api.http.get("/api/v1/users", params=query, headers=viewer.auth)
    )["users"]
    return found


async def _names(api: Api, viewer: User, **query: Any) -> list[str]:
    return [user["username"] for user in await _find(api, viewer, **query)]


# By exact name


async def test_a_user_is_found_by_exact_name_with_a_public_profile(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    await register(api.http, "bob", email="bob@example.org")
    response = await api.http.get("/api/v1/users", params={"username": "bob"}, headers=alice.auth)
    [bob] = ok(response)["users"]
    assert sorted(bob) == PROFILE_KEYS
    assert type(bob["id"]) is int
    assert (bob["username"], bob["role"], bob["blocked"]) == ("bob", "user", False)
    assert TIMESTAMP.fullmatch(bob["created_at"])
    # The email is its owner's business, and no hash ever leaves the server.
    assert "bob@example.org" not in response.text
    assert "argon2" not in response.text


async def test_exact_lookup_ignores_case_and_surrounding_blanks(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    await register(api.http, "Bob")
    for asked in ("bob", "BOB", " Bob "):
        assert await _names(api, alice, username=asked) == ["Bob"]


async def test_exact_lookup_of_an_unknown_name_finds_nobody(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    await register(api.http, "bobby")
    assert await _find(api, alice, username="bob") == []


async def test_exact_lookup_finds_users_made_through_the_avito_api(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    legacy = await add_user(api.http, "legacy")
    [found] = await _find(api, alice, username="legacy")
    assert found["id"] == legacy


async def test_moderators_and_blocked_users_show_as_such(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await sign_up(api.http, "mod")
    await api.make_moderator(moderator)
    await block(api.http, moderator, bob)
    [found_bob] = await _find(api, alice, username="bob")
    assert found_bob["blocked"] is True
    [found_mod] = await _find(api, alice, username="mod")
    assert found_mod["role"] == "moderator"


# By prefix


async def test_prefix_search_ignores_case_and_orders_by_name(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    for name in ("Alfred", "bob", "ALBERT", "al"):
        await register(api.http, name)
    assert await _names(api, alice, prefix="AL") == ["al", "ALBERT", "Alfred", "alice"]
    assert await _names(api, alice, prefix="alf") == ["Alfred"]
    assert await _names(api, alice, prefix="zed") == []


async def test_prefix_search_takes_percent_and_underscore_literally(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    for name in ("a_b", "axb", "a%c", "abc", "a\\d", "a/e"):
        await register(api.http, name)
    assert await _names(api, alice, prefix="a_") == ["a_b"]
    assert await _names(api, alice, prefix="a%") == ["a%c"]
    assert await _names(api, alice, prefix="a\\") == ["a\\d"]
    assert await _names(api, alice, prefix="a/") == ["a/e"]  # SQLAlchemy's escape character
    assert await _names(api, alice, prefix="%") == []
    assert await _names(api, alice, prefix="_") == []


async def test_prefix_search_keeps_a_trailing_blank(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    await register(api.http, "bob smith")
    await register(api.http, "bobby")
    assert await _names(api, alice, prefix="bob ") == ["bob smith"]
    assert await _names(api, alice, prefix="  bob") == ["bob smith", "bobby"]


async def test_prefix_search_returns_ten_by_default_and_at_most_the_limit(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    names = [f"user{n:02}" for n in range(25)]
    for name in names:
        await add_user(api.http, name)
    assert await _names(api, alice, prefix="user") == names[:10]
    assert await _names(api, alice, prefix="user", limit=3) == names[:3]
    assert await _names(api, alice, prefix="user", limit=20) == names[:20]


@pytest.mark.parametrize("limit", ["0", "21", "-1", "ten"])
async def test_a_limit_outside_1_to_20_is_refused(api: Api, limit: str) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.get(
        "/api/v1/users", params={"prefix": "a", "limit": limit}, headers=alice.auth
    )
    assert assert_error(response, 400, "limit")["code"] == "invalid_field"


# Refusals


async def test_lookup_needs_a_token(api: Api) -> None:
    await register(api.http, "alice")
    response = await api.http.get("/api/v1/users", params={"username": "alice"})
    assert assert_error(response, 401)["code"] == "missing_token"
    assert response.headers["www-authenticate"] == "Bearer"
    bad = {"Authorization": "Bearer not-a-token"}
    response = await api.http.get("/api/v1/users", params={"prefix": "a"}, headers=bad)
    assert assert_error(response, 401)["code"] == "invalid_token"


async def test_a_blocked_user_cannot_look_anyone_up(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    moderator = await sign_up(api.http, "mod")
    await api.make_moderator(moderator)
    await block(api.http, moderator, alice)
    response = await api.http.get("/api/v1/users", params={"username": "bob"}, headers=alice.auth)
    assert_error(response, 401)
    assert await _names(api, bob, username="alice") == ["alice"]


# By ids


async def test_profiles_are_found_by_ids_in_id_order_leaving_out_unknown_ids(api: Api) -> None:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    await register(api.http, "dave", email="dave@example.org")
    avito = await add_user(api.http, "erin")
    ids = [carol.id, 10**12, avito, bob.id, carol.id]
    response = await api.http.get("/api/v1/users", params={"id": ids}, headers=alice.auth)
    found = ok(response)["users"]
    assert [user["id"] for user in found] == sorted({bob.id, carol.id, avito})
    assert [user["username"] for user in found] == ["bob", "carol", "erin"]
    assert all(sorted(user) == PROFILE_KEYS for user in found)
    response = await api.http.get("/api/v1/users", params={"id": ids}, headers={})
    assert_error(response, 401)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"id": [str(n) for n in range(1, 102)]}, "invalid_query"),
        ({"id": "1", "username": "alice"}, "invalid_query"),
        ({"id": "1", "prefix": "a"}, "invalid_query"),
        ({"id": "0"}, "invalid_field"),
        ({"id": "x"}, "invalid_field"),
        ({"id": str(2**63)}, "invalid_field"),
    ],
)
async def test_a_lookup_by_ids_takes_1_to_100_valid_ids_alone(
    api: Api, query: dict[str, Any], code: str
) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.get("/api/v1/users", params=query, headers=alice.auth)
    assert assert_error(response, 400)["code"] == code


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "invalid_query"),
        ({"username": "alice", "prefix": "al"}, "invalid_query"),
        ({"username": ""}, "invalid_username"),
        ({"username": "   "}, "invalid_username"),
        ({"prefix": ""}, "invalid_prefix"),
        ({"prefix": "  "}, "invalid_prefix"),
        # PostgreSQL text cannot hold a NUL: refused on both databases alike, not a 500.
        ({"username": "bob\x00"}, "invalid_username"),
        ({"prefix": "b\x00"}, "invalid_prefix"),
    ],
)
async def test_exactly_one_name_or_prefix_is_needed_and_it_must_be_storable(
    api: Api, query: dict[str, str], code: str
) -> None:
    alice = await sign_up(api.http, "alice")
    response = await api.http.get("/api/v1/users", params=query, headers=alice.auth)
    assert assert_error(response, 400)["code"] == code
