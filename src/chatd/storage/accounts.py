"""Users and their tokens, as read (core/writes.py decides their writes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from chatd.core.errors import UserNotFound
from chatd.core.models import Account, Caller, Credentials, UserId
from chatd.storage.dialects import Dialect
from chatd.storage.lookups import chunks
from chatd.storage.tables import auth_tokens, users

_ACCOUNT_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.email,
    users.c.role,
    users.c.created_at,
    users.c.blocked_at,
)


def get_account(conn: sa.Connection, user: UserId) -> Account:
    row = conn.execute(sa.select(*_ACCOUNT_COLUMNS).where(users.c.id == user)).first()
    if row is None:
        raise UserNotFound([user])
    return Account(*row)


def find_account(conn: sa.Connection, username_key: str) -> Account | None:
    query = sa.select(*_ACCOUNT_COLUMNS).where(users.c.username_key == username_key)
    row = conn.execute(query).first()
    return None if row is None else Account(*row)


def accounts_by_id(conn: sa.Connection, ids: Sequence[UserId]) -> list[Account]:
    """The accounts among `ids`, in id order; ids of nobody are left out."""
    found: list[Account] = []
    for chunk in chunks(ids):
        query = sa.select(*_ACCOUNT_COLUMNS).where(users.c.id.in_(chunk))
        found += (Account(*row) for row in conn.execute(query))
    return sorted(found, key=lambda account: account.id)


def find_credentials(conn: sa.Connection, username_key: str) -> Credentials | None:
    row = conn.execute(
        sa.select(users.c.id, users.c.password_hash, users.c.blocked_at).where(
            users.c.username_key == username_key
        )
    ).first()
    return (
        None if row is None else Credentials(row.id, row.password_hash, row.blocked_at is not None)
    )


_FIND_CALLER = (
    sa.select(users.c.id, users.c.role, auth_tokens.c.id.label("token_id"))
    .join(users, users.c.id == auth_tokens.c.user_id)
    .where(
        auth_tokens.c.token_hash == sa.bindparam("token_hash"),
        auth_tokens.c.expires_at > sa.bindparam("now"),
        # Checked on every request: blocking takes effect at once.
        users.c.blocked_at.is_(None),
    )
)


def find_caller(conn: sa.Connection, token_hash: str, now: datetime) -> Caller | None:
    row = conn.execute(_FIND_CALLER, {"token_hash": token_hash, "now": now}).first()
    return None if row is None else Caller(row.id, row.role, row.token_id)


def list_accounts(
    conn: sa.Connection, sql: Dialect, key_prefix: str, limit: int | None
) -> list[Account]:
    """Accounts whose username key starts with `key_prefix` (LIKE wildcards in it are literal),
    in code point order of the key on both databases."""
    key = users.c.username_key
    query = sa.select(*_ACCOUNT_COLUMNS).order_by(sql.code_point_order(key)).limit(limit)
    if key_prefix:
        query = query.where(key.startswith(key_prefix, autoescape=True))
    return [Account(*row) for row in conn.execute(query)]
