"""Typing (realtime/typing.py): a member's {"type": "typing", "chat": C} reaches the chat's other
connected members within 200 ms (measured; asserted with room for a loaded machine), on one
server and across two sharing PostgreSQL through the postgres:// and redis:// brokers; one a
chat every 2 s per connection; never to the sender's own sockets, to non-members, or to
moderators who are not members; a frame for someone else's chat is dropped without a word."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.api.v1_helpers import User, create_chat, send, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.conftest import new_database, server_pair
from tests.realtime.streams import Stream, check_frame, promote
from tests.realtime.test_instances import redis_url  # noqa: F401 (a fixture)

WITHIN = 1.0  # seconds asserted; the contract's 200 ms is measured and printed


async def live(streams: list[Stream], http: httpx.AsyncClient, author: User, chat: int) -> None:
    """Waits until each stream is live (a message of the chat reached it): signals reach only
    live streams, and a stream's chats are subscribed on the broker by then."""
    sent = await send(http, author, chat, "settle")
    for stream in streams:
        while (await stream.next())["message"]["id"] != sent["id"]:
            pass


async def typed(stream: Stream, chat: int) -> None:
    await stream.connection.send(json.dumps({"type": "typing", "chat": chat}))


async def typing_frame(stream: Stream, wait: float) -> dict[str, object]:
    while True:
        frame = await stream.ephemeral(wait)
        if frame["type"] == "typing":
            return frame


async def no_typing(stream: Stream, seconds: float) -> None:
    try:
        frame = await typing_frame(stream, seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected no typing, got {frame}")


async def reaches_members_only(
    sender_base: str, receiver_base: str, http: httpx.AsyncClient, server: ServerProcess
) -> None:
    alice, bob, carol, mod, modmember = await sign_up_many(
        http, "alice", "bob", "carol", "mod", "modmember"
    )
    await promote(server, "mod")
    await promote(server, "modmember")
    chat = (await create_chat(http, alice, "room", [bob, modmember]))["id"]
    other = (await create_chat(http, carol, "elsewhere", [alice]))["id"]
    alices = [await Stream.open(sender_base, alice) for _ in range(2)]
    bobs = await Stream.open(receiver_base, bob)
    carols = await Stream.open(receiver_base, carol)
    mods = await Stream.open(receiver_base, mod)
    modmembers = await Stream.open(receiver_base, modmember)
    await live([*alices, bobs, mods, modmembers], http, alice, chat)
    await live([carols], http, carol, other)

    started = time.monotonic()
    await typed(alices[0], chat)
    for receiver in (bobs, modmembers):
        frame = await typing_frame(receiver, WITHIN)
        latency = time.monotonic() - started
        print(f"typing reached a member in {latency * 1000:.1f} ms")
        assert frame == {"type": "typing", "chat": chat, "user": alice.id}
        assert latency < WITHIN
    for stream in (*alices, carols, mods):  # the sender, a non-member, a moderator not in it
        await no_typing(stream, 0.3)
    for stream in (*alices, bobs, carols, mods, modmembers):
        await stream.close()


async def test_typing_reaches_the_chats_other_members_only(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    await reaches_members_only(server.url, server.url, http, server)


async def test_a_burst_of_typing_gives_one_and_the_next_after_two_seconds(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    alices, bobs = await Stream.open(server.url, alice), await Stream.open(server.url, bob)
    await live([alices, bobs], http, alice, chat)
    for _ in range(5):
        await typed(alices, chat)
    assert await typing_frame(bobs, WITHIN) == {"type": "typing", "chat": chat, "user": alice.id}
    await no_typing(bobs, 1.0)
    await asyncio.sleep(1.1)  # 2 s after the first
    await typed(alices, chat)
    assert (await typing_frame(bobs, WITHIN))["user"] == alice.id
    # Another connection of the same user has its own rate.
    again = await Stream.open(server.url, alice)
    await live([again], http, bob, chat)
    await typed(again, chat)
    assert (await typing_frame(bobs, WITHIN))["user"] == alice.id


async def test_typing_in_a_chat_one_is_not_in_is_dropped_silently(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob, carol = await sign_up_many(http, "alice", "bob", "carol")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    carols, bobs = await Stream.open(server.url, carol), await Stream.open(server.url, bob)
    await live([bobs], http, alice, chat)
    for target in (chat, chat + 1000):  # someone else's chat, and a chat that does not exist
        await typed(carols, target)
    await no_typing(bobs, 0.5)
    await carols.connection.send(json.dumps({"type": "ping"}))  # still open: answered
    assert json.loads(await asyncio.wait_for(carols.connection.recv(), 5)) == {"type": "pong"}
    await carols.close()
    await bobs.close()


MALFORMED = (
    {"type": "typing"},
    {"type": "typing", "chat": "1"},
    {"type": "typing", "chat": 0},
    {"type": "typing", "chat": 1.5},
    {"type": "typing", "chat": 2**63},
    {"type": "typping", "chat": 1},
)


async def test_a_malformed_typing_frame_closes_with_a_protocol_error(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (alice,) = await sign_up_many(http, "alice")
    for frame in MALFORMED:  # one server for them all: each on a stream of its own
        stream = await Stream.open(server.url, alice)
        await stream.connection.send(json.dumps(frame))
        code, _reason = await stream.closed()
        assert code == 4002, frame


@pytest.mark.parametrize("broker", ["postgres", "redis"])
async def test_typing_reaches_members_on_another_instance(
    broker: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database("postgresql", tmp_path, request)
    broker_url = "postgres://" if broker == "postgres" else request.getfixturevalue("redis_url")
    one, two = server_pair(url, tmp_path, CHATD_BROKER_URL=broker_url)
    try:
        async with httpx.AsyncClient(base_url=one.url, timeout=10) as http:
            await reaches_members_only(one.url, two.url, http, one)
    finally:
        one.kill()
        two.kill()


def test_the_readmes_typing_and_presence_frames_are_valid_frames() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    shown = [
        json.loads(line)
        for line in readme.splitlines()
        if line.startswith('{"type": "typing"') or line.startswith('{"type": "presence"')
    ]
    sent = [frame for frame in shown if "user" not in frame]
    assert [frame["type"] for frame in shown] == ["typing", "typing", "presence", "presence"]
    assert sent == [{"type": "typing", "chat": 2}]
    for frame in shown:
        if frame not in sent:
            check_frame(frame)
