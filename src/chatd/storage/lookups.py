"""Small lookups that several storage modules share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from chatd.core.errors import UserNotFound
from chatd.core.models import UserId
from chatd.storage.tables import users

# SQLite accepts at most 32766 parameters in one statement; stay far below.
ID_CHUNK = 500


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def exists(conn: sa.Connection, table: sa.Table, row_id: int) -> bool:
    query = sa.select(sa.literal(1)).where(table.c.id == row_id)
    return conn.execute(query).first() is not None


def require_users(conn: sa.Connection, ids: Sequence[UserId]) -> None:
    """Raises UserNotFound naming every id that is not a user."""
    found: set[int] = set()
    for chunk in chunks(ids):
        found.update(conn.execute(sa.select(users.c.id).where(users.c.id.in_(chunk))).scalars())
    missing = set(ids) - found
    if missing:
        raise UserNotFound(missing)


def insert_id(conn: sa.Connection, table: sa.Table, values: Mapping[str, object]) -> int:
    return int(conn.execute(table.insert().returning(table.c.id), values).scalar_one())
