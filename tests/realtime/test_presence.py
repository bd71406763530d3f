"""Presence (realtime/presence.py): a user is online while one of their streams is open on any
instance. The connected members of the chats they share hear `presence` events (never the user,
never anyone else); a reconnection within the grace is not seen; a user who stays away is
offline once, with last_seen_at; an instance killed with -9 leaves its users online only until
its TTL runs out. On one server, and across two sharing PostgreSQL through each broker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.v1_helpers import User, create_chat, ok, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.conftest import new_database, server_pair, serving
from tests.realtime.streams import Stream, promote
from tests.realtime.test_instances import redis_url  # noqa: F401 (a fixture)
from tests.realtime.test_typing import live

GRACE = 1.0  # CHATD_PRESENCE_GRACE_SECONDS here
TTL = 3.0  # CHATD_PRESENCE_TTL_SECONDS here
WITHIN = 1.0  # seconds asserted for an event that is not waiting on the grace or the TTL
SETTINGS = {"CHATD_PRESENCE_GRACE_SECONDS": str(GRACE), "CHATD_PRESENCE_TTL_SECONDS": str(TTL)}


async def presence(stream: Stream, wait: float, of: User | None = None) -> dict[str, Any]:
    """The next presence frame (of the user `of`, when given: others', e.g. of co-members who
    connected just before, are skipped)."""
    async with asyncio.timeout(wait):
        while True:
            frame = await stream.ephemeral(wait)
            if frame["type"] == "presence" and (of is None or frame["user"] == of.id):
                return frame


async def no_presence(stream: Stream, seconds: float, of: User | None = None) -> None:
    try:
        frame = await presence(stream, seconds, of)
    except TimeoutError:
        return
    raise AssertionError(f"expected no presence, got {frame}")


async def profile(http: httpx.AsyncClient, viewer: User, user: User) -> dict[str, Any]:
    response = await http.get("/api/v1/users", params={"id": user.id}, headers=viewer.auth)
    [found] = ok(response)["users"]
    return found  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with serving(request.param, tmp_path, request, **SETTINGS) as process:
        yield process


async def test_coming_online_is_told_to_connected_co_members_only(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        alice, bob, carol, mod = await sign_up_many(http, "alice", "bob", "carol", "mod")
        await promote(server, "mod")
        chat = (await create_chat(http, bob, "room", [alice]))["id"]
        await create_chat(http, alice, "a second chat they share", [bob])
        other = (await create_chat(http, carol, "elsewhere", [bob]))["id"]
        bobs, carols, mods = [await Stream.open(server.url, u) for u in (bob, carol, mod)]
        await live([bobs, mods], http, bob, chat)
        await live([carols], http, carol, other)
        assert (await profile(http, bob, alice))["online"] is False

        started = time.monotonic()
        alices = await Stream.open(server.url, alice)
        frame = await presence(bobs, WITHIN, of=alice)
        print(f"presence reached a co-member in {(time.monotonic() - started) * 1000:.1f} ms")
        assert frame == {"type": "presence", "user": alice.id, "online": True, "last_seen_at": None}
        for stream in (alices, carols, mods):  # herself, no shared chat, a moderator not in it
            await no_presence(stream, 0.3, of=alice)
        await no_presence(bobs, 0.1, of=alice)  # once, though they share two chats
        seen = await profile(http, bob, alice)
        assert (seen["online"], seen["last_seen_at"]) == (True, None)
        assert (await profile(http, carol, alice))["online"] is None  # shares no chat
        assert (await profile(http, mod, alice))["online"] is True  # a moderator sees all
        for stream in (alices, bobs, carols, mods):
            await stream.close()


async def test_a_reconnection_within_the_grace_is_not_seen_and_staying_away_is_once(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        alice, bob = await sign_up_many(http, "alice", "bob")
        chat = (await create_chat(http, bob, "room", [alice]))["id"]
        bobs = await Stream.open(server.url, bob)
        await live([bobs], http, bob, chat)
        alices = await Stream.open(server.url, alice)
        assert (await presence(bobs, WITHIN, of=alice))["online"] is True

        await alices.close()
        await asyncio.sleep(GRACE / 3)
        alices = await Stream.open(server.url, alice)  # a reload: back within the grace
        await no_presence(bobs, GRACE + 1, of=alice)

        await alices.close()
        closed = time.monotonic()
        frame = await presence(bobs, GRACE + WITHIN + 1, of=alice)
        waited = time.monotonic() - closed
        assert frame["user"] == alice.id
        assert frame["online"] is False
        assert isinstance(frame["last_seen_at"], str)
        assert GRACE * 0.9 <= waited < GRACE + WITHIN + 1
        await no_presence(bobs, 1.0, of=alice)  # once
        seen = await profile(http, bob, alice)
        assert (seen["online"], seen["last_seen_at"]) == (False, frame["last_seen_at"])
        await bobs.close()


@pytest.mark.parametrize("broker", ["postgres", "redis"])
async def test_presence_crosses_instances_and_a_killed_instance_expires(
    broker: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database("postgresql", tmp_path, request)
    broker_url = "postgres://" if broker == "postgres" else request.getfixturevalue("redis_url")
    one, two = server_pair(url, tmp_path, **SETTINGS, CHATD_BROKER_URL=broker_url)
    try:
        async with httpx.AsyncClient(base_url=one.url, timeout=10) as http:
            alice, bob, carol = await sign_up_many(http, "alice", "bob", "carol")
            chat = (await create_chat(http, bob, "room", [alice]))["id"]
            bobs, carols = await Stream.open(one.url, bob), await Stream.open(one.url, carol)
            await live([bobs], http, bob, chat)

            started = time.monotonic()
            alices = await Stream.open(two.url, alice)
            assert (await presence(bobs, WITHIN, of=alice))["online"] is True
            print(f"presence crossed instances in {(time.monotonic() - started) * 1000:.1f} ms")
            assert (await profile(http, bob, alice))["online"] is True  # asked of the other one

            two.kill()  # SIGKILL: no goodbye, the TTL must end it
            killed = time.monotonic()
            frame = await presence(bobs, TTL * 2 + 2, of=alice)
            waited = time.monotonic() - killed
            print(f"a killed instance's user went offline after {waited:.1f} s (TTL {TTL} s)")
            assert (frame["user"], frame["online"]) == (alice.id, False)
            assert isinstance(frame["last_seen_at"], str)
            assert waited < TTL + TTL / 3 + 1.5
            assert (await profile(http, bob, alice))["online"] is False
            await no_presence(carols, 0.2)
            del alices
            await bobs.close()
            await carols.close()
    finally:
        one.kill()
        two.kill()
