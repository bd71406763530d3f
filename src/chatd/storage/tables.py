"""The schema, as SQLAlchemy Core tables. Migrations (storage/migrations) create and upgrade it.

Shard-friendly: every row about a message carries its chat_id, and a chat's history is addressed
by (chat_id, seq), so a chat and all it holds can live on one shard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Stable constraint names, so migrations can refer to them on both databases.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

# SQLite only auto-assigns ids to an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Timestamp(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes: `timestamptz` on PostgreSQL, integer microseconds on SQLite.

    SQLite has no time type; parsing its text form costs more than the query itself (measured in
    docs/decisions.md), while integers sort and convert cheaply.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return (value - EPOCH) // MICROSECOND

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        # Hot: hundreds of values per listing. asyncpg already returns aware datetimes, so
        # PostgreSQL needs no processing at all, and SQLite's needs no generic wrapper.
        return from_micros if dialect.name == "sqlite" else None


def from_micros(value: int | None) -> datetime | None:
    # Positional timedelta(days, seconds, microseconds): a third faster than the keyword form.
    return None if value is None else EPOCH + timedelta(0, 0, value)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    # The case-folded username: the unique key (see core.users.username_key).
    sa.Column("username_key", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    # NULL for users made through the Avito API: they cannot log in until one is set.
    sa.Column("password_hash", sa.Text),
    sa.Column("email", sa.String(254)),
    sa.Column("role", sa.String(16), nullable=False, server_default="user"),
    sa.Column("blocked_at", Timestamp),
    # When the user's last stream closed (presence); NULL: never connected.
    sa.Column("last_seen_at", Timestamp),
    sa.CheckConstraint("role IN ('user', 'moderator')", name="role"),
    sqlite_autoincrement=True,
)

auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the token: a leaked table does not let anyone in.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index(None, "user_id"),
    sqlite_autoincrement=True,
)

chats = sa.Table(
    "chats",
    metadata,
    sa.Column("id", Id, primary_key=True),
    # NULL for private chats, which are named after the other person by clients.
    sa.Column("name", sa.String(128)),
    # Made by the Avito API's /chats/add. Its name is unique among such chats (the Avito
    # contract, uq_chats_avito_name below); groups made through API v1 are named freely.
    sa.Column("from_avito", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_message_at", Timestamp, nullable=False),
    # The seq of the newest message: the sending transaction bumps it under the row lock.
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("owner_id", Id, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("is_private", sa.Boolean, nullable=False, server_default=sa.false()),
    # A private chat's two members, lower id first: unique, so a pair never gets two chats.
    sa.Column("direct_low", Id, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("direct_high", Id, sa.ForeignKey("users.id", ondelete="CASCADE")),
    # The Avito listing's entry as text, written by the writes that change it: the chat's name,
    # members and creation time (`head`), and its last message time (storage/records.py).
    sa.Column("head", sa.Text, nullable=False, server_default=""),
    sa.Column("last_message_text", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("direct_low", "direct_high"),
    # A moderator's listing of every chat walks this index page by page.
    sa.Index(None, "last_message_at", "id"),
    sqlite_autoincrement=True,
)

# A partial unique index: only the names of chats made through the Avito API clash
# (docs/decisions.md, "Chat names"). A v1 group's name never refuses, nor reveals, another's.
sa.Index(
    "uq_chats_avito_name",
    chats.c.name,
    unique=True,
    sqlite_where=chats.c.from_avito,
    postgresql_where=chats.c.from_avito,
)

chat_members = sa.Table(
    "chat_members",
    metadata,
    sa.Column("chat_id", Id, sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", Timestamp, nullable=False),
    # Everything up to this seq is read; unread_count is the chat's last_seq minus this.
    sa.Column("last_read_seq", sa.BigInteger, nullable=False, server_default="0"),
    # The change log's position of the user's joining: their stream shows the chat's changes
    # from there on (storage/changes.py), not those of before, nor of a time they were out.
    sa.Column("joined_pos", sa.BigInteger, nullable=False, server_default="0"),
    # "Which chats is this user in" reads this index, never the whole table.
    sa.Index(None, "user_id", "chat_id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("chat_id", Id, sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("author_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("edited_at", Timestamp),
    # A deleted message stays as a tombstone (empty text) so seqs stay gap-free.
    sa.Column("deleted_at", Timestamp),
    # The Avito record after its id, written by the send and every edit (storage/records.py).
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    # The message this one answers, in the same chat. No foreign key: messages are never
    # deleted but as tombstones, or with their whole chat.
    sa.Column("reply_to_id", Id),
    # The user ids it mentions, in order of first appearance ("3,7"; NULL: none): shown with
    # the message at no extra query. `message_mentions` indexes them for the unread counts.
    sa.Column("mentions", sa.Text),
    # History pages and cursors walk this index: cost per page independent of history size.
    sa.UniqueConstraint("chat_id", "seq"),
    sqlite_autoincrement=True,
)

# One row per (message, emoji, user): setting or clearing a reaction is idempotent, and a
# message's totals are a GROUP BY over the primary key's prefix.
message_reactions = sa.Table(
    "message_reactions",
    metadata,
    sa.Column("message_id", Id, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("emoji", sa.String(64), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("chat_id", Id, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# The members a message mentions, with its chat and seq: "unread messages mentioning me" in a
# chat is a range of this index (seq above the member's last_read_seq).
message_mentions = sa.Table(
    "message_mentions",
    metadata,
    sa.Column("message_id", Id, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("chat_id", Id, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index(None, "user_id", "chat_id", "seq"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    # SHA-256 of method, path and body: the same key with another request is refused.
    sa.Column("fingerprint", sa.String(64), nullable=False),
    # NULL while the first request is in flight.
    sa.Column("status_code", sa.Integer),
    sa.Column("body", sa.LargeBinary),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index(None, "created_at"),
)

# The change log (core/events.py). `pos` is given out under the one row of `change_log`, taken
# last in every writing transaction, so positions are in commit order: a reader that has seen
# pos N+1 can never later find N appear. No foreign keys: a change outlives its chat or message
# (a deleted chat's members still hear `chat.deleted`) until the log is pruned.
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("pos", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("chat_id", Id),  # NULL only for changes about a user alone (user.blocked)
    sa.Column("user_id", Id),  # addressed to this user; NULL: to the chat's members
    sa.Column("message_id", Id),
    sa.Column("seq", sa.BigInteger),
    sa.Column("created_at", Timestamp, nullable=False),
    # A user's stream reads the changes of their chats and those addressed to them, by pos.
    sa.Index(None, "chat_id", "pos"),
    sa.Index(None, "user_id", "pos"),
)

change_log = sa.Table(
    "change_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("last_pos", sa.BigInteger, nullable=False, server_default="0"),
    # Changes up to here have been pruned: a stream resuming before it must resync.
    sa.Column("pruned_pos", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("id = 1", name="one_row"),
)
