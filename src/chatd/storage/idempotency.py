"""Idempotency keys: who sent which key, for which request, and what was answered."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatd.core.models import IdempotencyRecord, UserId
from chatd.storage.tables import idempotency_keys as keys


def _match(user: UserId, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(keys.c.user_id == user, keys.c.key == key)


def claim(
    conn: sa.Connection,
    user: UserId,
    key: str,
    fingerprint: str,
    now: datetime,
    expired_before: datetime,
    stale_before: datetime,
) -> IdempotencyRecord | None:
    """None when this request may go ahead (the key is now ours), else the record in the way."""
    conn.execute(keys.delete().where(_match(user, key), keys.c.created_at < expired_before))
    row = conn.execute(
        sa.select(keys.c.fingerprint, keys.c.status_code, keys.c.body).where(_match(user, key))
    ).first()
    if row is None:
        values = {"user_id": user, "key": key, "fingerprint": fingerprint, "created_at": now}
        conn.execute(keys.insert(), values)  # a concurrent twin makes this a unique violation
        return None
    if row.status_code is None and row.fingerprint == fingerprint:
        # In flight, but for so long that its server must have died: take it over.
        taken = conn.execute(
            keys.update()
            .where(
                _match(user, key), keys.c.status_code.is_(None), keys.c.created_at < stale_before
            )
            .values(created_at=now)
        )
        if taken.rowcount:
            return None
    return IdempotencyRecord(row.fingerprint, row.status_code, row.body)


def finish(conn: sa.Connection, user: UserId, key: str, status: int, body: bytes) -> None:
    conn.execute(keys.update().where(_match(user, key)).values(status_code=status, body=body))


def release(conn: sa.Connection, user: UserId, key: str) -> None:
    conn.execute(keys.delete().where(_match(user, key)))


def purge(conn: sa.Connection, before: datetime) -> int:
    return conn.execute(keys.delete().where(keys.c.created_at < before)).rowcount
