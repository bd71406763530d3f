"""The postgres:// broker: LISTEN/NOTIFY on chatd's PostgreSQL database, no other service.

One connection listens (a channel per subscribed topic), another publishes. A channel is
`chatd_<topic>`; the payload is the position. NOTIFY is cheap but goes through the database's
single notification queue; docs/decisions.md has the measured cost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg
import sqlalchemy as sa

from chatd.realtime.broker import Notify

log = logging.getLogger("chatd.realtime")
PREFIX = "chatd_"


def dsn(url: str, database_url: str) -> str:
    """`postgres://` alone means chatd's own database; a full URL names another."""
    chosen = database_url if url.rstrip("/") in ("postgres:", "postgresql:") else url
    parsed = sa.make_url(chosen)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError("the postgres:// broker needs a PostgreSQL database URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBroker:
    def __init__(self, url: str, database_url: str) -> None:
        self._dsn = dsn(url, database_url)
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Connection | None = None
        self._publishing = asyncio.Lock()
        self._notify: Notify | None = None

    async def start(self, notify: Notify) -> None:
        self._notify = notify
        self._listener = await asyncpg.connect(self._dsn)
        self._publisher = await asyncpg.connect(self._dsn)

    def _heard(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        if self._notify is not None:
            self._notify(channel.removeprefix(PREFIX), int(payload))

    async def subscribe(self, topics: Iterable[str]) -> None:
        assert self._listener is not None
        for topic in topics:
            # LISTEN is in effect when the command returns: hints from then on are heard.
            await self._listener.add_listener(PREFIX + topic, self._heard)

    async def unsubscribe(self, topics: Iterable[str]) -> None:
        if self._listener is None or self._listener.is_closed():
            return
        for topic in topics:
            await self._listener.remove_listener(PREFIX + topic, self._heard)

    async def publish(self, topics: Iterable[str], pos: int) -> None:
        channels = [PREFIX + topic for topic in topics]
        if not channels or self._publisher is None:
            return
        async with self._publishing:  # one connection, one statement at a time
            await self._publisher.execute(
                "SELECT pg_notify(channel, $2) FROM unnest($1::text[]) AS channel",
                channels,
                str(pos),
            )

    async def close(self) -> None:
        for conn in (self._listener, self._publisher):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._notify = None
