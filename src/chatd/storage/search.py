"""Message search: the text index of each database (migration 0007), read newest first.

SQLite keeps an FTS5 table in step with `messages` by triggers; PostgreSQL a GIN index on the
text's tsvector. Either is written by the message's own INSERT or UPDATE, so a search right
after a send finds it. The match itself is the dialect's (storage/dialects.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from chatd.core.models import Message
from chatd.core.search import Search
from chatd.storage.dialects import Dialect
from chatd.storage.messages import MESSAGE_COLUMNS, message_of, with_quotes, with_reactions
from chatd.storage.tables import chat_members, messages

# What migration 0007 made that tables.py does not describe (SQLAlchemy has no word for a
# virtual table or an expression index): the schema comparison (tests/test_migrations.py)
# leaves exactly these out. FTS5 keeps its index in shadow tables named after its own.
FTS_TABLE = "messages_fts"
PG_INDEX = "ix_messages_search"
OUTSIDE_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{shadow}" for shadow in ("data", "idx", "docsize", "config"))}
)


def search_messages(conn: sa.Connection, sql: Dialect, search: Search) -> list[Message]:
    found = sql.text_matches(search.words)
    query = (
        sa.select(*MESSAGE_COLUMNS)
        .select_from(with_quotes(found.source))
        .where(found.condition, messages.c.deleted_at.is_(None))
        .order_by(found.newest.desc())
        .limit(search.limit)
    )
    if search.viewer is not None:
        mine = sa.select(chat_members.c.chat_id).where(chat_members.c.user_id == search.viewer)
        query = query.where(messages.c.chat_id.in_(mine))
    if search.chat is not None:
        query = query.where(messages.c.chat_id == search.chat)
    if search.author is not None:
        query = query.where(messages.c.author_id == search.author)
    if search.before is not None:
        query = query.where(found.newest < search.before)
    return with_reactions(conn, [message_of(row) for row in conn.execute(query).all()])
