"""realtime/presence.py writes each user's row as this instance's sockets last left it, whatever
came and went while a write was under way: a stream that closes and comes back within the grace
while the first arrival is still queued ends up online, not forgotten. The store here is an
in-memory one of the same port (the SQL one is tested in tests/api and tests/realtime)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from chatd.realtime.broker import MemoryBroker
from chatd.realtime.hub import Hub
from chatd.realtime.presence import Presence


class MemoryPresence:
    def __init__(self) -> None:
        self.rows: set[tuple[int, str]] = set()
        self.gate = asyncio.Event()
        self.gate.set()

    async def claim(self, instance: str, now: datetime, expires_at: datetime) -> bool:
        return True

    async def arrive(self, user: int, instance: str, now: datetime) -> bool:
        await self.gate.wait()
        online = any(u == user for u, _ in self.rows)
        self.rows.add((user, instance))
        return not online

    async def depart(self, user: int, instance: str, now: datetime) -> bool:
        await self.gate.wait()
        self.rows.discard((user, instance))
        return not any(u == user for u, _ in self.rows)

    async def reap(self, now: datetime) -> list[tuple[int, datetime]]:
        return []

    async def withdraw(self, instance: str, expires_at: datetime) -> None:
        pass


async def _chats(_user: int) -> list[int]:
    return [1]


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_return_within_the_grace_while_the_arrival_waits_stays_online() -> None:
    store = MemoryPresence()
    presence = Presence(Hub(MemoryBroker(), None, 60), store, _chats, grace=0.2, ttl=60)  # type: ignore[arg-type]
    await presence.start()
    try:
        store.gate.clear()  # the database is slow: the first write waits
        presence.opened(7)
        await _settle()
        presence.opened(8)
        presence.closed(8)  # gone: within the grace
        store.gate.set()
        await _settle()
        presence.opened(8)  # back within the grace
        await asyncio.sleep(0.4)  # past the grace
        await _settle()
        assert store.rows == {(7, presence.instance), (8, presence.instance)}

        presence.closed(8)
        await asyncio.sleep(0.4)
        await _settle()
        assert store.rows == {(7, presence.instance)}  # stayed away: departed
    finally:
        await presence.close()
