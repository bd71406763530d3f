"""Every change reaches the members it concerns, as its event type, once, in order."""

from __future__ import annotations

import httpx

from tests.api.v1_helpers import create_chat, ok, send, send_direct, sign_up, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.streams import Stream, types


async def test_every_event_type_reaches_the_member_in_order(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, carol = await sign_up_many(http, "alice", "bob", "carol")
    bobs = await Stream.open(server.url, bob)
    chat = (await create_chat(http, alice, "plans", [bob]))["id"]
    created = await bobs.next()
    assert created["type"] == "chat.created"
    assert created["chat"]["id"] == chat
    assert created["chat"]["users"] == [alice.id, bob.id]

    message = await send(http, alice, chat, "hello")
    edited = ok(
        await http.patch(
            f"/api/v1/messages/{message['id']}", json={"text": "hello!"}, headers=alice.auth
        )
    )
    ok(await http.delete(f"/api/v1/messages/{message['id']}", headers=alice.auth), 204)
    renamed = {"name": "plans b", "users": [alice.id, bob.id, carol.id]}
    ok(await http.patch(f"/api/v1/chats/{chat}", json=renamed, headers=alice.auth))
    ok(await http.post(f"/api/v1/chats/{chat}/read", json={"seq": 1}, headers=bob.auth))
    frames = await bobs.take(5)
    assert types(frames) == [
        "message.created",
        "message.edited",
        "message.deleted",
        "chat.updated",
        "chat.read",
    ]
    assert frames[0]["message"]["id"] == message["id"]
    assert frames[1]["message"]["text"] == edited["text"] == "hello!"
    assert frames[2]["message"]["deleted"] is True
    assert frames[2]["message"]["text"] is None
    assert frames[3]["chat"]["name"] == "plans b"
    assert frames[3]["chat"]["users"] == [alice.id, bob.id, carol.id]
    assert frames[4]["chat"] == {"id": chat, "last_read_seq": 1}
    positions = [created["pos"]] + [f["pos"] for f in frames]
    assert positions == sorted(set(positions))

    ok(await http.patch(f"/api/v1/chats/{chat}", json={"users": [alice.id]}, headers=alice.auth))
    removed = await bobs.next()
    assert removed["type"] == "member.removed"
    assert removed["chat"] == {"id": chat}
    await send(http, alice, chat, "bob is gone")
    await bobs.silence()

    ok(
        await http.patch(
            f"/api/v1/chats/{chat}", json={"users": [alice.id, bob.id]}, headers=alice.auth
        )
    )
    added = await bobs.next()
    assert added["type"] == "member.added"
    assert added["chat"]["id"] == chat
    await send(http, alice, chat, "welcome back")
    assert (await bobs.next())["message"]["text"] == "welcome back"

    ok(await http.delete(f"/api/v1/chats/{chat}", headers=alice.auth), 204)
    deleted = await bobs.next()
    assert deleted["type"] == "chat.deleted"
    assert deleted["chat"] == {"id": chat}
    await bobs.close()


async def test_sends_through_the_avito_api_and_private_messages_are_pushed(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    bobs = await Stream.open(server.url, bob)
    avito = await http.post("/chats/add", json={"name": "legacy", "users": [alice.id, bob.id]})
    assert avito.status_code == 201
    assert (await bobs.next())["type"] == "chat.created"
    sent = await http.post(
        "/messages/add", json={"chat": avito.json()["id"], "author": alice.id, "text": "via avito"}
    )
    assert sent.status_code == 201
    pushed = await bobs.next()
    assert pushed["type"] == "message.created"
    assert pushed["message"]["id"] == sent.json()["id"]
    assert pushed["message"]["text"] == "via avito"

    await send_direct(http, alice, bob.id, "psst")
    first, second = await bobs.take(2)
    assert first["type"] == "chat.created"
    assert first["chat"]["is_private"] is True
    assert second["type"] == "message.created"
    assert second["message"]["text"] == "psst"
    await bobs.close()


async def test_a_users_other_device_hears_of_their_own_changes(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    phone = await Stream.open(server.url, alice)
    laptop = await Stream.open(server.url, alice)
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    await send(http, bob, chat, "hi")
    ok(await http.post(f"/api/v1/chats/{chat}/read", json={"seq": 1}, headers=alice.auth))
    for device in (phone, laptop):
        assert types(await device.take(3)) == ["chat.created", "message.created", "chat.read"]
        await device.close()


async def test_refused_and_rolled_back_changes_are_never_pushed(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, eve = await sign_up_many(http, "alice", "bob", "eve")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    bobs = await Stream.open(server.url, bob)
    refused = await http.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "let me in"}, headers=eve.auth
    )
    assert refused.status_code == 404
    # The rename runs under the chat's lock, then fails on an unknown member: rolled back.
    change = {"name": "renamed", "users": [alice.id, bob.id, 999_999]}
    clash = await http.patch(f"/api/v1/chats/{chat}", json=change, headers=alice.auth)
    assert clash.status_code == 404
    await bobs.silence()
    await send(http, alice, chat, "still here")
    assert (await bobs.next())["message"]["text"] == "still here"
    await bobs.close()


async def test_a_new_member_hears_of_messages_sent_right_after_the_add(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice = await sign_up(http, "alice")
    newcomers = await sign_up_many(http, *(f"user{i}" for i in range(5)))
    chat = (await create_chat(http, alice, "growing"))["id"]
    streams = [await Stream.open(server.url, user) for user in newcomers]
    members = [alice.id]
    for user, stream in zip(newcomers, streams, strict=True):
        members.append(user.id)
        ok(await http.patch(f"/api/v1/chats/{chat}", json={"users": members}, headers=alice.auth))
        await send(http, alice, chat, f"welcome {user.username}")
        added, welcome = await stream.take(2)
        assert added["type"] == "member.added"
        assert welcome["message"]["text"] == f"welcome {user.username}"
    for stream in streams:
        await stream.close()
