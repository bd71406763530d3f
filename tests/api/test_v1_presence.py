"""GET /api/v1/users shows `online` and `last_seen_at` to the user themself, to those who share a
chat with them, and to moderators; null to everyone else (core/presence.py). The presence rows
are written here as an instance writes them (storage/presence.py), on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chatd.core import clock
from tests.api.v1_helpers import Api, User, create_chat, ok, sign_up_many


async def _seen(api: Api, viewer: User, *users: User) -> dict[int, tuple[Any, Any]]:
    params = [("id", user.id) for user in users]
    found = ok(await api.http.get("/api/v1/users", params=params, headers=viewer.auth))["users"]
    return {user["id"]: (user["online"], user["last_seen_at"]) for user in found}


async def test_online_and_last_seen_are_shown_to_self_co_members_and_moderators_only(
    api: Api,
) -> None:
    alice, bob, carol, mod = await sign_up_many(api.http, "alice", "bob", "carol", "mod")
    await api.make_moderator(mod)
    await create_chat(api.http, alice, "room", [bob])
    store = api.app.state.presence_store
    now = clock.now()
    await store.claim("test-instance", now, now + timedelta(minutes=1))
    assert await store.arrive(alice.id, "test-instance", now) is True  # first stream anywhere
    assert await store.arrive(alice.id, "test-instance", now) is False  # already online

    assert await _seen(api, bob, alice, bob, carol) == {
        alice.id: (True, None),  # shares a chat: online, and no last seen while online
        bob.id: (False, None),  # themself: never seen
        carol.id: (None, None),  # shares no chat with bob
    }
    assert (await _seen(api, carol, alice))[alice.id] == (None, None)
    assert (await _seen(api, mod, alice, carol)) == {
        alice.id: (True, None),
        carol.id: (False, None),
    }

    left = clock.now()
    assert await store.depart(alice.id, "test-instance", left) is True
    online, last_seen = (await _seen(api, bob, alice))[alice.id]
    assert online is False
    assert last_seen == clock.rfc3339(left)
    assert (await _seen(api, alice, alice))[alice.id] == (False, last_seen)
    assert (await _seen(api, carol, alice))[alice.id] == (None, None)


async def test_an_expired_instance_no_longer_makes_its_users_online(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    await create_chat(api.http, alice, "room", [bob])
    store = api.app.state.presence_store
    then = clock.now() - timedelta(minutes=2)
    await store.claim("dead-instance", then, then + timedelta(minutes=1))
    await store.arrive(alice.id, "dead-instance", then)
    assert (await _seen(api, bob, alice))[alice.id] == (False, None)
    assert await store.reap(clock.now()) == [(alice.id, then)]
    assert (await _seen(api, bob, alice))[alice.id] == (False, clock.rfc3339(then))
