"""Presence, as stored (tables `presence_instances`, `presence_sockets`; realtime/presence.py
decides when to write). Each write is its own short transaction, never a message's.

A user is online while a row of theirs belongs to a process whose `expires_at` is ahead. The
transitions lock the user's row (FOR NO KEY UPDATE on PostgreSQL, which a send's foreign key
check does not wait for; SQLite has one writer anyway), so that two processes telling the same
user's arrival or departure at once agree on which of them is the transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from chatd.core.models import UserId
from chatd.core.presence import Seen
from chatd.storage.database import Database
from chatd.storage.lookups import chunks
from chatd.storage.tables import chat_members, presence_instances, presence_sockets, users


def _live(user: sa.ColumnElement[int], now: datetime) -> sa.Exists:
    return (
        sa.select(1)
        .select_from(
            presence_sockets.join(
                presence_instances, presence_instances.c.id == presence_sockets.c.instance_id
            )
        )
        .where(presence_sockets.c.user_id == user, presence_instances.c.expires_at > now)
        .exists()
    )


def _online(conn: sa.Connection, user: UserId, now: datetime) -> bool:
    return bool(conn.execute(sa.select(_live(sa.literal(user), now))).scalar_one())


def _lock(conn: sa.Connection, user: UserId) -> bool:
    query = sa.select(users.c.id).where(users.c.id == user).with_for_update(key_share=True)
    return conn.execute(query).first() is not None


def _claim(conn: sa.Connection, instance: str, now: datetime, expires_at: datetime) -> bool:
    """Renews the process's row; False when it had to be made (new, or reaped meanwhile)."""
    values = {"seen_at": now, "expires_at": expires_at}
    where = presence_instances.c.id == instance
    if conn.execute(presence_instances.update().where(where).values(values)).rowcount:
        return True
    conn.execute(presence_instances.insert().values(id=instance, **values))
    return False


def _arrive(conn: sa.Connection, user: UserId, instance: str, now: datetime) -> bool:
    """The user has a stream on `instance`: True when they were offline until now."""
    if not _lock(conn, user):
        return False  # deleted meanwhile
    online = _online(conn, user, now)
    mine = sa.and_(presence_sockets.c.user_id == user, presence_sockets.c.instance_id == instance)
    if conn.execute(sa.select(1).where(mine)).first() is None:
        conn.execute(presence_sockets.insert().values(user_id=user, instance_id=instance))
    return not online


def _depart(conn: sa.Connection, user: UserId, instance: str, now: datetime) -> bool:
    """The user has no stream left on `instance`: True when they are offline now (their
    last_seen_at is then `now`)."""
    if not _lock(conn, user):
        return False
    mine = sa.and_(presence_sockets.c.user_id == user, presence_sockets.c.instance_id == instance)
    conn.execute(presence_sockets.delete().where(mine))
    if _online(conn, user, now):
        return False
    conn.execute(users.update().where(users.c.id == user).values(last_seen_at=now))
    return True


def _reap(conn: sa.Connection, now: datetime) -> list[tuple[UserId, datetime]]:
    """Forgets the processes that stopped renewing; their users who are nowhere else online are
    offline, last seen at their process's last renewal."""
    gone = conn.execute(
        sa.select(presence_instances.c.id, presence_instances.c.seen_at).where(
            presence_instances.c.expires_at <= now
        )
    ).all()
    offline: list[tuple[UserId, datetime]] = []
    for instance, seen_at in gone:
        where = presence_instances.c.id == instance
        if not conn.execute(presence_instances.delete().where(where)).rowcount:
            continue  # another process reaped it first
        held = presence_sockets.c.instance_id == instance
        stranded = sorted(conn.scalars(sa.select(presence_sockets.c.user_id).where(held)))
        conn.execute(presence_sockets.delete().where(held))
        for user in stranded:  # in id order: two reapers lock users in the same order
            if _lock(conn, user) and not _online(conn, user, now):
                conn.execute(users.update().where(users.c.id == user).values(last_seen_at=seen_at))
                offline.append((user, seen_at))
    return offline


def _seen(conn: sa.Connection, ids: Sequence[UserId], now: datetime) -> dict[UserId, Seen]:
    found: dict[UserId, Seen] = {}
    for chunk in chunks(ids):
        query = sa.select(users.c.id, _live(users.c.id, now), users.c.last_seen_at).where(
            users.c.id.in_(chunk)
        )
        for user, online, last_seen_at in conn.execute(query):
            found[user] = Seen(bool(online), None if online else last_seen_at)
    return found


def _sharing(conn: sa.Connection, viewer: UserId, ids: Sequence[UserId]) -> set[UserId]:
    mine = chat_members.alias("mine")
    theirs = chat_members.alias("theirs")
    found: set[UserId] = set()
    for chunk in chunks(ids):
        query = (
            sa.select(theirs.c.user_id)
            .distinct()
            .select_from(mine.join(theirs, mine.c.chat_id == theirs.c.chat_id))
            .where(mine.c.user_id == viewer, theirs.c.user_id.in_(chunk))
        )
        found.update(conn.scalars(query))
    return found


def _withdraw(conn: sa.Connection, instance: str, expires_at: datetime) -> None:
    where = presence_instances.c.id == instance
    conn.execute(presence_instances.update().where(where).values(expires_at=expires_at))


class SqlPresence:
    """The presence tables, each call one transaction (or one read)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, instance: str, now: datetime, expires_at: datetime) -> bool:
        return await self._db.write(_claim, instance, now, expires_at)

    async def arrive(self, user: UserId, instance: str, now: datetime) -> bool:
        return await self._db.write(_arrive, user, instance, now)

    async def depart(self, user: UserId, instance: str, now: datetime) -> bool:
        return await self._db.write(_depart, user, instance, now)

    async def reap(self, now: datetime) -> list[tuple[UserId, datetime]]:
        return await self._db.write(_reap, now)

    async def withdraw(self, instance: str, expires_at: datetime) -> None:
        await self._db.write(_withdraw, instance, expires_at)

    async def seen(self, ids: Sequence[UserId], now: datetime) -> dict[UserId, Seen]:
        """Whether each user is online, and when last seen (None while online, or never)."""
        return await self._db.read(_seen, ids, now)

    async def sharing(self, viewer: UserId, ids: Sequence[UserId]) -> set[UserId]:
        """Those among `ids` who share a chat with `viewer`."""
        return await self._db.read(_sharing, viewer, ids)
