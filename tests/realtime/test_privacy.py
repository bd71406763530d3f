"""Privacy on replay: positions are not secrets, so a stream replayed from any position shows a
user only what they could see at each change's position and may see now. A former member
learns nothing of what came after they left: no text, excerpt, name or member list.

Each test replays the whole log (pos=0) as the former member, and checks every frame."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.v1_helpers import (
    User,
    block,
    create_chat,
    log_in,
    ok,
    send,
    send_direct,
    sign_up,
    sign_up_many,
    unblock,
)
from tests.e2e.server import ServerProcess
from tests.realtime.streams import Stream, promote, replay, types

SECRET = "SECRET launch code 7d1f"
SECRET_NAME = "SECRET plans 7d1f"


def _assert_secret_nowhere(frames: list[dict[str, Any]], *secrets: str) -> None:
    text = json.dumps(frames)
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked in {frames}"


async def _remove(http: httpx.AsyncClient, owner: User, chat: int, users: list[User]) -> None:
    path = f"/api/v1/chats/{chat}"
    ok(await http.patch(path, json={"users": [u.id for u in users]}, headers=owner.auth))


async def test_a_removed_member_replaying_learns_nothing_from_after_the_removal(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, carol = await sign_up_many(http, "alice", "bob", "carol")
    chat = (await create_chat(http, alice, "room", [bob, carol]))["id"]
    await send(http, alice, chat, "hello while bob is in")
    await _remove(http, alice, chat, [alice, carol])
    ok(await http.patch(f"/api/v1/chats/{chat}", json={"name": SECRET_NAME}, headers=alice.auth))
    await send(http, alice, chat, SECRET)
    dave = await sign_up(http, "dave")
    await _remove(http, alice, chat, [alice, carol, dave])

    frames = await replay(server.url, bob)
    _assert_secret_nowhere(frames, SECRET, SECRET_NAME, '"users"', str(dave.id))
    assert types(frames) == ["member.removed"]
    # Nor from any position before the removal.
    for frame in frames:
        _assert_secret_nowhere(await replay(server.url, bob, frame["pos"] - 1), SECRET)


async def test_a_member_removed_twice_replays_nothing_from_after_either_time(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    await _remove(http, alice, chat, [alice])
    await send(http, alice, chat, "while bob was away the first time")
    await _remove(http, alice, chat, [alice, bob])  # re-added
    await _remove(http, alice, chat, [alice])
    ok(await http.patch(f"/api/v1/chats/{chat}", json={"name": SECRET_NAME}, headers=alice.auth))
    await send(http, alice, chat, SECRET)

    frames = await replay(server.url, bob)
    _assert_secret_nowhere(frames, SECRET, SECRET_NAME)
    assert types(frames) == ["member.removed", "member.removed"]


async def test_a_re_added_member_sees_the_chat_as_it_is_only_from_the_re_adding_on(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    await _remove(http, alice, chat, [alice])
    ok(await http.patch(f"/api/v1/chats/{chat}", json={"name": SECRET_NAME}, headers=alice.auth))
    await send(http, alice, chat, SECRET)
    await _remove(http, alice, chat, [alice, bob])
    after = await send(http, alice, chat, "welcome back")

    frames = await replay(server.url, bob)
    assert types(frames) == ["member.removed", "member.added", "message.created"]
    removed, added, message = frames
    # Before the re-adding: nothing of what happened while bob was out.
    _assert_secret_nowhere([removed], SECRET, SECRET_NAME)
    # From it on, the chat as it is: a member may read it all (its history included).
    assert added["chat"]["name"] == SECRET_NAME
    assert message["message"]["id"] == after["id"]


async def test_a_deleted_chat_replays_as_its_deletion_alone(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    await send(http, alice, chat, "before")
    await _remove(http, alice, chat, [alice])
    await send(http, alice, chat, SECRET)
    ok(await http.delete(f"/api/v1/chats/{chat}", headers=alice.auth), 204)

    _assert_secret_nowhere(await replay(server.url, bob), SECRET, "before")
    alices = await replay(server.url, alice)
    assert types(alices)[-1] == "chat.deleted"
    _assert_secret_nowhere(alices[-1:], SECRET)


async def test_nobody_but_the_pair_and_moderators_hears_of_a_private_chat(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, carol, mod = await sign_up_many(http, "alice", "bob", "carol", "mod")
    await promote(server, "mod")
    sent = await send_direct(http, alice, bob.id, SECRET)

    _assert_secret_nowhere(await replay(server.url, carol), SECRET)
    assert types(await replay(server.url, carol)) == []
    bobs = await replay(server.url, bob)
    assert types(bobs) == ["chat.created", "message.created"]
    # Moderators see every chat: its creation once (not once per member), and its messages.
    mods = await replay(server.url, mod)
    assert types(mods) == ["chat.created", "message.created"]
    assert mods[1]["message"]["id"] == sent["id"]


async def test_after_an_unblock_a_resume_from_before_the_block_streams_on(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, mod = await sign_up_many(http, "alice", "bob", "mod")
    await promote(server, "mod")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    bobs = await Stream.open(server.url, bob)
    await send(http, alice, chat, "before the block")
    saved = (await bobs.next())["pos"]  # what bob's client remembers
    await block(http, mod, bob)
    code, _reason = await bobs.closed(wait=2)
    assert code == 4003
    await unblock(http, mod, bob)
    back = User(bob.id, bob.username, bob.password, await log_in(http, "bob"))
    while_blocked = await send(http, alice, chat, "after the unblock")
    for _attempt in range(3):  # a client that resumes from the position it saved, each time
        resumed = await Stream.open(server.url, back, pos=saved)
        frame = await resumed.next()
        assert frame["type"] == "message.created"
        assert frame["message"]["id"] == while_blocked["id"]
        await resumed.silence(0.3)
        await resumed.close()
    # A block while streaming still closes it.
    live = await Stream.open(server.url, back, pos=saved)
    await live.take(1)
    await block(http, mod, back)
    code, _reason = await live.closed(wait=2)
    assert code == 4003
