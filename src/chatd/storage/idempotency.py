"""Idempotency keys: who sent which key, for which request, and what was answered.

A record is written in the transaction of the write it answers (see core/idempotency.py), or,
for a request that wrote nothing (a refusal), on its own. A record past its lifetime counts as
absent and is replaced by the next request with its key.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatd.core.idempotency import Receipt, Reply
from chatd.core.models import IdempotencyRecord, UserId
from chatd.storage.dialects import Dialect
from chatd.storage.tables import idempotency_keys as keys


def _match(user: UserId, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(keys.c.user_id == user, keys.c.key == key)


def find(
    conn: sa.Connection, user: UserId, key: str, expired_before: datetime
) -> IdempotencyRecord | None:
    row = conn.execute(
        sa.select(keys.c.fingerprint, keys.c.status_code, keys.c.body).where(
            _match(user, key), keys.c.created_at >= expired_before
        )
    ).first()
    return None if row is None else IdempotencyRecord(row.fingerprint, row.status_code, row.body)


def record(conn: sa.Connection, sql: Dialect, receipt: Receipt, reply: Reply) -> bool:
    """Records the key with its reply; False (and nothing written) when a live record holds it."""
    status, body = reply
    values = {
        "user_id": receipt.user,
        "key": receipt.key,
        "fingerprint": receipt.fingerprint,
        "status_code": status,
        "body": body,
        "created_at": receipt.created_at,
    }
    insert = sql.insert(keys)
    # One statement either way: a twin's concurrent insert waits on the key, then finds it held.
    upsert = insert.values(values).on_conflict_do_update(
        index_elements=[keys.c.user_id, keys.c.key],
        set_={name: insert.excluded[name] for name in values if name not in ("user_id", "key")},
        where=keys.c.created_at < receipt.expired_before,
    )
    return conn.execute(upsert.returning(keys.c.user_id)).first() is not None


def purge(conn: sa.Connection, before: datetime) -> int:
    return conn.execute(keys.delete().where(keys.c.created_at < before)).rowcount
