"""A moderator's stream carries every chat's changes, live and on resume: the "All chats" view
is live. A chat's creation and deletion come once, however many members it has, and a
moderator who is also a member hears each change once."""

from __future__ import annotations

import httpx

from tests.api.v1_helpers import create_chat, ok, send, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.streams import Stream, promote, types


async def test_a_moderator_hears_every_chat_live_and_on_resume(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    mod, alice, bob = await sign_up_many(http, "mod", "alice", "bob")
    await promote(server, "mod")
    mods = await Stream.open(server.url, mod)
    start = mods.ready["pos"]

    chat = (await create_chat(http, alice, "not the mod's", [bob]))["id"]
    sent = await send(http, bob, chat, "hello")
    path = f"/api/v1/chats/{chat}"
    ok(await http.patch(path, json={"name": "renamed"}, headers=alice.auth))
    joined = (await create_chat(http, alice, "with the mod", [mod]))["id"]
    await send(http, alice, joined, "hi mod")
    ok(await http.delete(path, headers=alice.auth), 204)

    live = await mods.take(6)
    await mods.silence(0.5)
    assert types(live) == [
        "chat.created",
        "message.created",
        "chat.updated",
        "chat.created",
        "message.created",
        "chat.deleted",
    ]
    created, message, renamed, made, _hi, deleted = live
    assert created["chat"]["id"] == chat
    assert created["chat"]["unread_count"] == 0
    assert message["message"]["id"] == sent["id"]
    assert renamed["chat"]["name"] == "renamed"
    assert made["chat"]["id"] == joined
    assert mod.id in made["chat"]["users"]
    assert deleted["chat"] == {"id": chat}
    await mods.close()

    # A replay shows things as they are now: of the chat deleted since, its deletion alone.
    replayed = await Stream.open(server.url, mod, pos=start)
    again = await replayed.take(3)
    await replayed.silence(0.5)
    assert [(f["type"], f["pos"]) for f in again] == [(f["type"], f["pos"]) for f in live[3:]]
    await replayed.close()


async def test_a_demoted_moderator_stops_hearing_other_chats_at_once(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    mod, alice, bob = await sign_up_many(http, "mod", "alice", "bob")
    await promote(server, "mod")
    theirs = (await create_chat(http, alice, "theirs", [bob]))["id"]
    shared = (await create_chat(http, alice, "shared", [mod]))["id"]
    mods = await Stream.open(server.url, mod)
    await send(http, alice, theirs, "heard while a moderator")
    assert (await mods.next())["message"]["text"] == "heard while a moderator"

    await promote(server, "mod", role="demote")
    await send(http, alice, theirs, "SECRET after the demotion")
    sent = await send(http, alice, shared, "still a member here")
    frame = await mods.next()
    assert frame["message"]["id"] == sent["id"]
    await mods.silence(0.5)
    # A resume from before the demotion reads with the role the user has now.
    again = await Stream.open(server.url, mod, pos=mods.ready["pos"])
    texts = [f["message"]["text"] for f in await again.take(1)]
    await again.silence(0.5)
    assert texts == ["still a member here"]
    await again.close()
    await mods.close()
