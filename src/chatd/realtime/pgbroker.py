"""The postgres:// broker: LISTEN/NOTIFY on chatd's PostgreSQL database, no other service.

One connection listens (a channel per subscribed topic), another publishes; the two make one
link of the reconnecting broker (realtime/backoff.py), so losing either reconnects both. A
channel is `chatd_<topic>` (`chatd_all` for `*`), always quoted; the payload is the position,
or a signal's JSON object (under 8000 bytes: NOTIFY's limit), on the same channel.
Subscribing many topics costs one round trip: the LISTENs go in one query, and notifications
reach us through a Connection subclass, because asyncpg's `add_listener` sends a LISTEN per
channel. NOTIFY goes through the database's single notification queue; docs/decisions.md has
the measured cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

import asyncpg
import sqlalchemy as sa

from chatd.realtime.backoff import ATTEMPT_TIMEOUT, CLOSE_TIMEOUT, Link, ReconnectingBroker
from chatd.realtime.broker import ALL, Notify, Signalled

PREFIX = "chatd_"
NOTIFY = "SELECT pg_notify(channel, $2) FROM unnest($1::text[]) AS channel"


def dsn(url: str, database_url: str) -> str:
    """`postgres://` alone means chatd's own database; a full URL names another."""
    chosen = database_url if url.rstrip("/") in ("postgres:", "postgresql:") else url
    parsed = sa.make_url(chosen)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError("the postgres:// broker needs a PostgreSQL database URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def channel(topic: str) -> str:
    return PREFIX + ("all" if topic == ALL else topic)


def topic_of(channel: str) -> str:
    name = channel.removeprefix(PREFIX)
    return ALL if name == "all" else name


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Listening(asyncpg.Connection):  # type: ignore[misc]
    """Hands every notification to `heard`, whatever LISTEN asked for it."""

    heard: Callable[[str, str], None] | None = None

    def _process_notification(self, _pid: int, channel: str, payload: str) -> None:
        if self.heard is not None:
            self._loop.call_soon(self.heard, channel, payload)


class _PostgresLink(Link):
    def __init__(self, dsn: str, heard: Notify, signalled: Signalled) -> None:
        super().__init__()
        self._dsn = dsn
        self._heard = heard
        self._signalled = signalled
        self._listener: Any = None
        self._publisher: Any = None
        # asyncpg runs one command at a time per connection.
        self._listening = asyncio.Lock()
        self._publishing = asyncio.Lock()

    async def connect(self) -> None:
        self._listener = await asyncpg.connect(
            self._dsn, connection_class=_Listening, timeout=ATTEMPT_TIMEOUT
        )
        self._listener.heard = self._notified
        self._listener.add_termination_listener(self._terminated)
        self._publisher = await asyncpg.connect(self._dsn, timeout=ATTEMPT_TIMEOUT)
        self._publisher.add_termination_listener(self._terminated)

    def _terminated(self, _connection: object) -> None:
        self.fail(ConnectionError("the connection was closed"))

    def _notified(self, channel: str, payload: str) -> None:
        if payload.startswith("{"):
            self._signalled(topic_of(channel), payload)
            return
        try:
            pos = int(payload)
        except ValueError:  # someone else's NOTIFY on our channel
            return
        self._heard(topic_of(channel), pos)

    async def subscribe(self, topics: Collection[str]) -> None:
        # LISTEN is in effect when the command returns: hints from then on are heard.
        await self._listen("LISTEN", topics)

    async def unsubscribe(self, topics: Collection[str]) -> None:
        await self._listen("UNLISTEN", topics)

    async def _listen(self, command: str, topics: Collection[str]) -> None:
        sql = "; ".join(f"{command} {_quoted(channel(topic))}" for topic in topics)
        async with self._listening:
            await self._listener.execute(sql)

    async def publish(self, topics: Collection[str], pos: int) -> None:
        async with self._publishing:
            await self._publisher.execute(NOTIFY, [channel(t) for t in topics], str(pos))

    async def signal(self, topics: Collection[str], payload: str) -> None:
        async with self._publishing:
            await self._publisher.execute(NOTIFY, [channel(t) for t in topics], payload)

    async def check(self) -> None:
        if self._listening.locked():
            return  # busy with LISTENs, which are bounded and checked themselves
        async with self._listening:
            await self._listener.execute("SELECT 1")

    async def close(self) -> None:
        connections = [c for c in (self._listener, self._publisher) if c is not None]
        try:
            for connection in connections:
                if not connection.is_closed():  # a polite goodbye when the server answers
                    await connection.close(timeout=CLOSE_TIMEOUT / 4)
        finally:
            for connection in connections:
                connection.terminate()


class PostgresBroker(ReconnectingBroker):
    def __init__(self, url: str, database_url: str) -> None:
        self._dsn = dsn(url, database_url)
        super().__init__(sa.make_url(self._dsn).render_as_string(hide_password=True))

    def _new_link(self) -> Link:
        return _PostgresLink(self._dsn, self._heard, self._signal_heard)
