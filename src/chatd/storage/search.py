"""Message search: the text index of each database (migration 0007), read newest first.

SQLite keeps an FTS5 table in step with `messages` by triggers; PostgreSQL a GIN index on the
text's tsvector. Either is written by the message's own INSERT or UPDATE, so a search right
after a send finds it. The match itself is the dialect's (storage/dialects.py).

A search reads in two steps (docs/decisions.md, "Search"), because an index's cost grows with
how many messages hold the words, and a word most messages hold is what people type first:
1. the newest RECENT messages, walked newest first a page at a time and matched here by the
   words' rule (core/search.py); a common word fills the page in a few rows;
2. if the page is not full yet, the index, for what is older than the walk: a rare word's
   matches are few.
What is left (a word most OLD messages hold but no recent one) is bounded by the database's
bounded read (storage/database.py: off the event loop, two at a time, stopped after 2 s).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from chatd.core.models import Message
from chatd.core.search import Search, matches
from chatd.storage.dialects import Dialect
from chatd.storage.messages import MESSAGE_COLUMNS, read_messages, with_quotes
from chatd.storage.tables import chat_members, messages

# What migration 0007 made that tables.py does not describe (SQLAlchemy has no word for a
# virtual table or an expression index): the schema comparison (tests/test_migrations.py)
# leaves exactly these out. FTS5 keeps its index in shadow tables named after its own.
FTS_TABLE = "messages_fts"
PG_INDEX = "ix_messages_search"
OUTSIDE_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{shadow}" for shadow in ("data", "idx", "docsize", "config"))}
)

RECENT = 1000  # ids (of every chat) the first step walks below the newest, at most
FIRST_PAGE = 2  # the walk's first page holds this many times the rows asked; each next, 4 times


def search_messages(conn: sa.Connection, sql: Dialect, search: Search) -> list[Message]:
    newest = search.before
    if newest is None:
        highest = sa.select(sa.func.coalesce(sa.func.max(messages.c.id), 0))
        newest = int(conn.execute(highest).scalar_one()) + 1
    floor = max(newest - RECENT, 0)
    found = _walk(conn, sql, search, floor, newest)
    if len(found) < search.limit and floor > 0:
        found += _indexed(conn, sql, search, floor, search.limit - len(found))
    return read_messages(conn, found)


Row = sa.Row[Any]
TEXT = 4  # where a row of MESSAGE_COLUMNS holds the message's text
assert MESSAGE_COLUMNS[TEXT] is messages.c.text


def _walk(conn: sa.Connection, sql: Dialect, search: Search, floor: int, newest: int) -> list[Row]:
    """The matches among the messages with floor <= id < newest, newest first: pages that
    grow, so that a common word reads few more rows than it returns."""
    found: list[Row] = []
    below = newest
    page = FIRST_PAGE * search.limit
    holds = sql.text_holds(search.words)
    while below > floor and len(found) < search.limit:
        query: Query = _filtered(
            sa.select(*MESSAGE_COLUMNS)
            .select_from(with_quotes(messages))
            .where(messages.c.id >= floor, messages.c.id < below, messages.c.deleted_at.is_(None)),
            search,
        )
        if holds is not None:
            query = query.where(holds)
        rows = conn.execute(query.order_by(messages.c.id.desc()).limit(page)).all()
        found += [row for row in rows if matches(row[TEXT], search.words)]
        if len(rows) < page:
            break
        below = rows[-1][0]
        page *= 4
    return found[: search.limit]


def _indexed(
    conn: sa.Connection, sql: Dialect, search: Search, below: int, limit: int
) -> list[Row]:
    found = sql.text_matches(search.words)
    query: Query = (
        sa.select(*MESSAGE_COLUMNS)
        .select_from(with_quotes(found.source))
        .where(found.condition, found.newest < below, messages.c.deleted_at.is_(None))
        .order_by(found.order)
        .limit(limit)
    )
    return list(conn.execute(_filtered(query, search)).all())


Query = sa.Select[Any]


def _filtered(query: Query, search: Search) -> Query:
    # `chat_id + 0`: a condition no index serves. Offered the (chat_id, seq) index, SQLite read
    # every message of each of the caller's chats and sorted them (2 s on a million messages)
    # instead of the id range; the index step is driven by the text index either way.
    chat = messages.c.chat_id + 0
    if search.viewer is not None:
        mine = sa.select(chat_members.c.chat_id).where(chat_members.c.user_id == search.viewer)
        query = query.where(chat.in_(mine))
    if search.chat is not None:
        query = query.where(chat == search.chat)
    if search.author is not None:
        query = query.where(messages.c.author_id == search.author)
    return query
