"""Chat names: v1 groups are named freely, while the Avito API keeps its contract that
/chats/add refuses a name another chat made through /chats/add holds (docs/decisions.md,
"Chat names").
"""

from __future__ import annotations

import httpx

from tests.api.helpers import add_chat, add_users, assert_error, get_chats
from tests.api.v1_helpers import Api, User, create_chat, list_chats, ok, sign_up, sign_up_many


async def _moderator(api: Api) -> User:
    moderator = await sign_up(api.http, "mod")
    await api.make_moderator(moderator)
    return moderator


async def _rename(api: Api, caller: User, chat: int, name: str) -> httpx.Response:
    return await api.http.patch(f"/api/v1/chats/{chat}", json={"name": name}, headers=caller.auth)


async def test_two_people_may_each_name_a_group_alike(api: Api) -> None:
    alice, carol = await sign_up_many(api.http, "alice", "carol")
    alices = await create_chat(api.http, alice, "weekend")
    carols = await create_chat(api.http, carol, "weekend")
    assert alices["id"] != carols["id"]
    assert [c["name"] for c in (await list_chats(api.http, carol))["chats"]] == ["weekend"]


async def test_one_person_may_have_two_groups_of_one_name(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    await create_chat(api.http, alice, "family", [bob])
    await create_chat(api.http, alice, "family")
    listed = (await list_chats(api.http, alice))["chats"]
    assert [c["name"] for c in listed] == ["family", "family"]


async def test_renaming_a_group_to_a_name_in_use_is_allowed(api: Api) -> None:
    alice, carol = await sign_up_many(api.http, "alice", "carol")
    await create_chat(api.http, alice, "weekend 77a3")
    mine = (await create_chat(api.http, carol, "plans"))["id"]
    other = (await create_chat(api.http, carol, "other"))["id"]
    assert ok(await _rename(api, carol, mine, "weekend 77a3"))["name"] == "weekend 77a3"
    assert ok(await _rename(api, carol, other, "weekend 77a3"))["name"] == "weekend 77a3"


async def test_avito_refuses_a_duplicate_name_exactly_as_before(api: Api) -> None:
    (alice,) = await add_users(api.http, "alice")
    await add_chat(api.http, "general", [alice])
    response = await api.http.post("/chats/add", json={"name": "general", "users": [alice]})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": "chat_name_taken", "message": "chat name already taken: 'general'"}
    }


async def test_a_group_may_take_the_name_of_an_avito_chat_its_maker_cannot_see(api: Api) -> None:
    alice, bob = await add_users(api.http, "alice", "bob")
    hidden = await add_chat(api.http, "secret plans", [alice, bob])
    carol = await sign_up(api.http, "carol")
    made = await create_chat(api.http, carol, "secret plans")
    # Nothing about the other chat: its id, its members or that it exists.
    assert made["id"] != hidden
    assert made["users"] == [carol.id]
    listed = (await list_chats(api.http, carol))["chats"]
    assert [(c["id"], c["name"]) for c in listed] == [(made["id"], "secret plans")]
    renamed = (await create_chat(api.http, carol, "soon"))["id"]
    assert ok(await _rename(api, carol, renamed, "secret plans"))["name"] == "secret plans"


async def test_a_group_does_not_take_a_name_from_the_avito_api(api: Api) -> None:
    carol = await sign_up(api.http, "carol")
    await create_chat(api.http, carol, "lobby")
    (alice,) = await add_users(api.http, "alice")
    # Refusing would tell an Avito client the name of a group it cannot see.
    chat = await add_chat(api.http, "lobby", [alice])
    assert [c["id"] for c in await get_chats(api.http, alice)] == [chat]


async def test_an_avito_listing_may_show_a_group_beside_an_avito_chat_of_its_name(
    api: Api,
) -> None:
    alice = await sign_up(api.http, "alice")
    from_avito = await add_chat(api.http, "weekend", [alice.id])
    group = (await create_chat(api.http, alice, "weekend"))["id"]
    listed = await get_chats(api.http, alice.id)
    assert sorted((c["id"], c["name"]) for c in listed) == [
        (from_avito, "weekend"),
        (group, "weekend"),
    ]


async def test_a_moderators_rename_of_an_avito_chat_keeps_its_name_unique_among_them(
    api: Api,
) -> None:
    alice, bob = await add_users(api.http, "alice", "bob")
    first = await add_chat(api.http, "first", [alice])
    await add_chat(api.http, "second", [bob])
    moderator = await _moderator(api)
    response = await _rename(api, moderator, first, "second")
    # The name is the caller's own; a moderator may list every chat anyway.
    assert assert_error(response, 409) == {
        "code": "chat_name_taken",
        "message": "chat name already taken: 'second'",
    }
    assert ok(await _rename(api, moderator, first, "third"))["name"] == "third"
    # It moved: "first" is free again in the Avito API, "third" is taken.
    await add_chat(api.http, "first", [alice])
    refused = await api.http.post("/chats/add", json={"name": "third", "users": [bob]})
    assert assert_error(refused, 409, "third")["code"] == "chat_name_taken"


async def test_an_avito_chat_may_be_renamed_to_a_groups_name(api: Api) -> None:
    (alice,) = await add_users(api.http, "alice")
    chat = await add_chat(api.http, "old", [alice])
    carol = await sign_up(api.http, "carol")
    await create_chat(api.http, carol, "carol's")
    moderator = await _moderator(api)
    assert ok(await _rename(api, moderator, chat, "carol's"))["name"] == "carol's"
    refused = await api.http.post("/chats/add", json={"name": "carol's", "users": [alice]})
    assert assert_error(refused, 409)["code"] == "chat_name_taken"


async def test_a_member_of_an_avito_chat_cannot_rename_it(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = await add_chat(api.http, "shared", [alice.id])
    await add_chat(api.http, "elsewhere", [alice.id])
    # Chats made through the Avito API have no owner: only moderators may rename them, so a
    # member learns nothing of other names by trying.
    response = await _rename(api, alice, chat, "elsewhere")
    assert assert_error(response, 403)["code"] == "not_owner"
