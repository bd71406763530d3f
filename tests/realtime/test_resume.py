"""Resuming: everything missed, in order, from the log; then live, with no gap and no repeat at
the seam; a position outside the log gets resync_required, never a partial replay."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
import websockets

from tests.api.v1_helpers import User, create_chat, ok, send, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.streams import Stream, check_frame, replay, types, ws_url


async def test_a_client_away_gets_exactly_what_it_missed_then_the_live_stream(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    bobs = await Stream.open(server.url, bob, pos=0)
    first = await bobs.next()
    await send(http, alice, chat, "before")
    seen = await bobs.next()
    await bobs.close()

    # Away: messages, an edit of one seen before, a delete, a rename.
    missed = [await send(http, alice, chat, f"while away {i}") for i in range(3)]
    path = f"/api/v1/messages/{seen['message']['id']}"
    ok(await http.patch(path, json={"text": "before (edited)"}, headers=alice.auth))
    ok(await http.delete(f"/api/v1/messages/{missed[1]['id']}", headers=alice.auth), 204)
    ok(await http.patch(f"/api/v1/chats/{chat}", json={"name": "room 2"}, headers=alice.auth))

    back = await Stream.open(server.url, bob, pos=seen["pos"])
    caught_up = await back.take(6)
    assert types(caught_up) == [
        "message.created",
        "message.created",
        "message.created",
        "message.edited",
        "message.deleted",
        "chat.updated",
    ]
    assert [f["pos"] for f in caught_up] == sorted(f["pos"] for f in caught_up)
    assert caught_up[0]["pos"] > seen["pos"]
    # A replay shows each message as it is now: the deleted one is already a tombstone.
    assert caught_up[1]["message"]["deleted"] is True
    assert caught_up[3]["message"]["text"] == "before (edited)"
    live = await send(http, alice, chat, "live again")
    pushed = await back.next()
    assert pushed["message"]["id"] == live["id"]
    await back.silence()
    # Seen live, then replayed, then live again: the log's whole stream, once each.
    everything = await replay(server.url, bob)
    assert [_key(f) for f in everything] == [_key(f) for f in [first, seen, *caught_up, pushed]]
    await back.close()


def _key(frame: dict[str, Any]) -> tuple[int, str, int]:
    """What identifies an event across replays (a replay shows things as they are now)."""
    about = frame.get("message") or frame["chat"]
    return frame["pos"], frame["type"], about["id"]


async def test_the_seam_under_concurrent_writers_has_no_gap_and_no_repeat(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    # Writers into several chats at once, on PostgreSQL committing in any order, while the
    # reader catches up and turns live: it must end with exactly the log's view of its stream.
    alice, bob, carol = await sign_up_many(http, "alice", "bob", "carol")
    chats = [(await create_chat(http, alice, f"room {i}", [bob, carol]))["id"] for i in range(4)]
    opened = await Stream.open(server.url, bob)
    start = opened.ready["pos"]
    await opened.close()

    async def writer(author: User, chat: int) -> None:
        for i in range(15):
            await send(http, author, chat, f"{author.username} {i}")

    writers = [
        asyncio.ensure_future(writer(author, chat)) for chat in chats for author in (alice, carol)
    ]
    await asyncio.sleep(0.05)
    reader = await Stream.open(server.url, bob, pos=start)
    await asyncio.gather(*writers)
    expected = [f for f in await replay(server.url, bob) if f["pos"] > start]
    received = await reader.take(len(expected))
    await reader.silence()
    assert [_key(f) for f in received] == [_key(f) for f in expected]
    assert len([f for f in received if f["type"] == "message.created"]) == 120
    await reader.close()


async def _prune(server: ServerProcess, upto: int) -> None:
    """Prunes the log up to `upto`, as the retention task would once it is old enough."""
    statements = [
        f"DELETE FROM changes WHERE pos <= {upto}",
        f"UPDATE change_log SET pruned_pos = {upto}",
    ]
    if server.database_url.startswith("postgresql"):
        conn = await asyncpg.connect(server.database_url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()
        return
    engine = sa.create_engine(server.database_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


async def test_a_position_older_than_retention_gets_resync_required(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    sent = [await send(http, alice, chat, f"m{i}") for i in range(3)]
    bobs = await Stream.open(server.url, bob, pos=0)
    frames = await bobs.take(4)
    await bobs.close()
    await _prune(server, frames[2]["pos"])

    async with websockets.connect(ws_url(server.url)) as connection:
        await connection.send(json.dumps({"type": "auth", "token": bob.token, "pos": 1}))
        resync = check_frame(json.loads(await connection.recv()))
        ready = check_frame(json.loads(await connection.recv()))
        assert resync["type"] == "resync_required"
        assert ready == {"type": "ready", "pos": resync["pos"], "user": bob.id}
        assert resync["pos"] >= frames[-1]["pos"]
        # After a resync the stream goes on live from there.
        later = await send(http, alice, chat, "after the resync")
        assert check_frame(json.loads(await connection.recv()))["message"]["id"] == later["id"]

    # A position still in the log resumes as usual; one never given out resyncs too.
    resumed = await Stream.open(server.url, bob, pos=frames[2]["pos"])
    assert (await resumed.next())["message"]["id"] == sent[2]["id"]
    await resumed.close()
    async with websockets.connect(ws_url(server.url)) as connection:
        await connection.send(json.dumps({"type": "auth", "token": bob.token, "pos": 10**9}))
        assert json.loads(await connection.recv())["type"] == "resync_required"


async def test_a_stream_without_a_position_starts_at_the_end_of_the_log(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    await send(http, alice, chat, "old")
    bobs = await Stream.open(server.url, bob)
    await bobs.silence(0.3)
    new = await send(http, alice, chat, "new")
    assert (await bobs.next())["message"]["id"] == new["id"]
    await bobs.close()
