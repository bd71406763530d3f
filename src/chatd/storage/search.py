"""Message search: the text index of each database (migration 0007), read newest first.

SQLite keeps an FTS5 table in step with `messages` by triggers; PostgreSQL a GIN index on the
text's tsvector. Either is written by the message's own INSERT or UPDATE, so a search right
after a send finds it. The match itself is the dialect's (storage/dialects.py).

An index's cost grows with how many messages hold the words asked, and a word most messages
hold is what people type first. So a search reads in one of two ways (docs/decisions.md §35),
chosen by how many messages hold each word (WordShares: the database's statistics, or a
sample of the newest messages):
1. if the newest RECENT messages are expected to fill the page, they are walked newest first,
   a page at a time, and matched here by the words' rule (core/search.py); the index is read
   only for what is older, if the page is not full yet;
2. else the index is read at once: a rare word's matches are few.
The index is never asked for a word most messages hold (COMMON): reading its list costs more
than checking it on the rows the other words find (PostgreSQL's GIN reads the whole list of
each word asked: a million entries, 2.5 ms, for a word every message holds). What is left (a
word most messages hold in a chat where few do) is bounded by the database's bounded read
(storage/database.py: off the event loop, three at a time, stopped after 2 s).
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa

from chatd.core.models import Message
from chatd.core.search import Search, matcher, words_in
from chatd.storage.dialects import Dialect
from chatd.storage.groupcommit import MAX_GROUP
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

RECENT = 1000  # ids (of every chat) the walk reads below the newest, at most
FIRST_PAGE = 2  # a first page holds this many times the rows asked; each next, 4 times
# A word at least this share of messages hold is not asked of the index but checked on what it
# finds (5 %: 50,000 entries of a million messages, ~0.1 ms of GIN reading).
COMMON = 0.05
SHARES_FOR = 600.0  # seconds the shares are kept before they are read again
SAMPLE = 2000  # the newest messages counted where the database keeps no statistics


class Shares:
    """The share of messages holding each of the commonest words; a word not listed is rarer
    than any listed."""

    def __init__(self, shares: Mapping[str, float]) -> None:
        self._shares = shares
        self._words = sorted(shares)

    def of(self, word: str) -> float:
        return self._shares.get(word, 0.0)

    def begun(self, prefix: str) -> float:
        """The share holding a word that `prefix` begins (at most: the listed ones' sum)."""
        total = 0.0
        for place in range(bisect.bisect_left(self._words, prefix), len(self._words)):
            word = self._words[place]
            if not word.startswith(prefix):
                break
            total += self._shares[word]
        return min(total, 1.0)


class WordShares:
    """Shares from PostgreSQL's statistics of the index (ANALYZE's, which autovacuum runs as
    the table grows), or else from a count over the newest SAMPLE messages; read at most every
    SHARES_FOR seconds."""

    def __init__(self) -> None:
        self._shares = Shares({})
        self._read_at = -math.inf

    def get(self, conn: sa.Connection, sql: Dialect) -> Shares:
        now = time.monotonic()
        if now - self._read_at >= SHARES_FOR:
            shares = sql.word_shares(conn, PG_INDEX)
            self._shares = Shares(_sampled(conn) if shares is None else shares)
            self._read_at = now
        return self._shares


def _sampled(conn: sa.Connection) -> dict[str, float]:
    newest = (
        sa.select(messages.c.text)
        .where(messages.c.deleted_at.is_(None))
        .order_by(messages.c.id.desc())
        .limit(SAMPLE)
    )
    texts = conn.execute(newest).scalars().all()
    held = Counter(word for text in texts for word in words_in(text))
    return {word: n / len(texts) for word, n in held.items()}


def search_messages(
    conn: sa.Connection, sql: Dialect, search: Search, shares: WordShares
) -> list[Message]:
    known = shares.get(conn, sql)
    *whole, prefix = search.words
    share = [known.of(word) for word in whole] + [known.begun(prefix)]
    # The index is asked for the words few messages hold; for the rarest if every one is common
    # (of equally common ones the last, whose prefix the index reads anyway).
    asked = [place for place, part in enumerate(share) if part < COMMON]
    asked = asked or [min(reversed(range(len(share))), key=share.__getitem__)]
    if not _walks_first(share, search.limit):
        found = _indexed(conn, sql, search, search.before, search.limit, asked)
        return read_messages(conn, found)
    newest, floor, lowest_seq = _recent(conn, search)
    # Rarest first: the database stops at the first word a text does not hold.
    rarest_first = [
        search.words[place] for place in sorted(range(len(share)), key=share.__getitem__)
    ]
    found = _walk(conn, sql, search, floor, newest, lowest_seq, rarest_first)
    if len(found) < search.limit and floor > 0:
        found += _indexed(conn, sql, search, floor, search.limit - len(found), asked)
    return read_messages(conn, found)


def _recent(conn: sa.Connection, search: Search) -> tuple[int, int, int | None]:
    """The ids the walk reads, floor <= id < newest: the newest RECENT of every chat, or of the
    one chat searched (read through its own index: its newest may be far older than
    everyone's). Then also the lowest seq among them, less MAX_GROUP, for the walk to read the
    chat's index from: ids follow seqs within a chat except between the sends of one group
    commit, which are fewer than MAX_GROUP (storage/groupcommit.py)."""
    if search.chat is None:
        newest = search.before
        if newest is None:
            newest = int(conn.execute(_HIGHEST).scalar_one()) + 1
        return newest, max(newest - RECENT, 0), None
    params = {"chat": search.chat, "before": search.before, "recent": RECENT}
    rows = conn.execute(_chat_recent(search.before is not None), params).all()
    ids = [int(row.id) for row in rows]
    newest = search.before if search.before is not None else max(ids, default=0) + 1
    if len(rows) < RECENT:
        return newest, 0, 0  # the whole chat is walked
    return newest, min(ids), min(int(row.seq) for row in rows) - MAX_GROUP


def _walks_first(share: list[float], limit: int) -> bool:
    """Whether the newest RECENT messages are expected to fill the page (the words' shares
    taken as if every message held the rarest word with the others): else the walk would read
    them for nothing before the index is read anyway."""
    return min(share) * RECENT >= limit


Row = sa.Row[Any]
TEXT = 4  # where a row of MESSAGE_COLUMNS holds the message's text
assert MESSAGE_COLUMNS[TEXT] is messages.c.text
Query = sa.Select[Any]
Params = dict[str, Any]


def _walk(
    conn: sa.Connection,
    sql: Dialect,
    search: Search,
    floor: int,
    newest: int,
    lowest_seq: int | None,
    rarest_first: list[str],
) -> list[Row]:
    """The matches among the messages with floor <= id < newest, newest first: pages that
    grow, so that a common word reads few more rows than it returns. `lowest_seq`: the
    searched chat's seq the walk reads its index from (None: every chat, by id)."""
    found: list[Row] = []
    held = sql.held_words(rarest_first)
    query = _walk_query(sql, _Filters.of(search), len(held), lowest_seq is not None)
    params = _filter_params(search) | {f"held{n}": f"%{word}%" for n, word in enumerate(held)}
    params |= {"floor": floor, "below": newest, "page": FIRST_PAGE * search.limit}
    params["lowest_seq"] = lowest_seq
    holds = matcher(search.words)
    while params["below"] > floor and len(found) < search.limit:
        rows = conn.execute(query, params).all()
        found += [row for row in rows if holds(row[TEXT])]
        if len(rows) < params["page"]:
            break
        params["below"] = rows[-1][0]
        params["page"] *= 4
    return found[: search.limit]


def _indexed(
    conn: sa.Connection,
    sql: Dialect,
    search: Search,
    below: int | None,
    limit: int,
    asked: list[int],
) -> list[Row]:
    """The newest `limit` matches with an id below `below` (None: any), found by the index
    asked for the words at the places `asked`; the others are checked on what it finds, in
    pages that grow until `limit` rows pass."""
    words = search.words
    every = len(asked) == len(words)
    checked = not every and _checks_in_database(sql)
    query = _index_query(sql, _Filters.of(search), below is not None, checked)
    params = _filter_params(search) | {
        "below": below,
        "page": limit if every else FIRST_PAGE * limit,
    }
    last = asked[-1] == len(words) - 1
    params["asked"] = sql.text_query([words[place] for place in asked], prefix=last)
    if checked:
        params["every"] = sql.text_query(words)
    holds = matcher(words)
    passed: list[Row] = []
    while True:
        rows = conn.execute(query, params).all()
        if every:
            return list(rows)
        passed += [row for row in rows if (row[-1] if checked else holds(row[TEXT]))]
        if len(passed) >= limit or len(rows) < params["page"]:
            return passed[:limit]
        params["below"] = rows[-1][0]
        params["page"] *= 4


# The statements, built once for each shape of search (SQLAlchemy then also keeps their cache
# key instead of working it out each time): the values are bound.

_HIGHEST = sa.select(sa.func.coalesce(sa.func.max(messages.c.id), 0))


class _Filters(NamedTuple):
    viewer: bool
    chat: bool
    author: bool

    @classmethod
    def of(cls, search: Search) -> _Filters:
        return cls(search.viewer is not None, search.chat is not None, search.author is not None)


def _filter_params(search: Search) -> Params:
    return {"viewer": search.viewer, "chat": search.chat, "author": search.author}


@functools.cache
def _checks_in_database(sql: Dialect) -> bool:
    return sql.text_check("every") is not None


@functools.cache
def _chat_recent(bounded: bool) -> Query:
    """The id and seq of the chat's newest RECENT messages (below a cursor's id), through the
    chat's (chat_id, seq) index."""
    query = sa.select(messages.c.id, messages.c.seq).where(
        messages.c.chat_id == sa.bindparam("chat", type_=sa.BigInteger)
    )
    if bounded:
        # `id + 0`: not the key's range (every chat's messages since), the chat's index.
        query = query.where(messages.c.id + 0 < sa.bindparam("before", type_=sa.BigInteger))
    limit = sa.bindparam("recent", type_=sa.Integer)
    return query.order_by(messages.c.chat_id.desc(), messages.c.seq.desc()).limit(limit)


@functools.cache
def _walk_query(sql: Dialect, filters: _Filters, held: int, by_chat: bool) -> Query:
    floor = sa.bindparam("floor", type_=sa.BigInteger)
    below = sa.bindparam("below", type_=sa.BigInteger)
    if by_chat:
        # Through the chat's index from lowest_seq, never the key's range: a chat's newest
        # messages may be older than a million of other chats'.
        key = messages.c.id + 0
        where = [
            messages.c.chat_id == sa.bindparam("chat", type_=sa.BigInteger),
            messages.c.seq >= sa.bindparam("lowest_seq", type_=sa.BigInteger),
        ]
    else:
        key, where = messages.c.id, []
    query = _filtered(
        sa.select(*MESSAGE_COLUMNS)
        .select_from(with_quotes(messages))
        .where(*where, key >= floor, key < below, messages.c.deleted_at.is_(None)),
        filters,
    )
    if held:
        query = query.where(sql.text_holds([f"held{n}" for n in range(held)]))
    return query.order_by(messages.c.id.desc()).limit(sa.bindparam("page", type_=sa.Integer))


@functools.cache
def _index_query(sql: Dialect, filters: _Filters, bounded: bool, checked: bool) -> Query:
    found = sql.text_matches("asked")
    query: Query = (
        sa.select(found.newest.label("id"))
        .select_from(found.source)
        .where(found.condition, messages.c.deleted_at.is_(None))
        .order_by(found.order)
        .limit(sa.bindparam("page", type_=sa.Integer))
    )
    if bounded:
        query = query.where(found.newest < sa.bindparam("below", type_=sa.BigInteger))
    ids = _filtered(query, filters).subquery()
    # The rows read by id once the index has said which: their columns (and the check, at a
    # few µs a row) for a page of rows, not for every match.
    check = sql.text_check("every") if checked else None
    return (
        sa.select(*MESSAGE_COLUMNS, *([] if check is None else [check]))
        .select_from(with_quotes(messages.join(ids, ids.c.id == messages.c.id)))
        .order_by(messages.c.id.desc())
    )


def _filtered(query: Query, filters: _Filters) -> Query:
    # `chat_id + 0`: a condition no index serves. Offered the (chat_id, seq) index, SQLite read
    # every message of each of the caller's chats and sorted them (2 s on a million messages)
    # instead of the id range; the index step is driven by the text index either way.
    chat = messages.c.chat_id + 0
    if filters.viewer:
        viewer = sa.bindparam("viewer", type_=sa.BigInteger)
        query = query.where(
            chat.in_(sa.select(chat_members.c.chat_id).where(chat_members.c.user_id == viewer))
        )
    if filters.chat:
        query = query.where(chat == sa.bindparam("chat", type_=sa.BigInteger))
    if filters.author:
        query = query.where(messages.c.author_id == sa.bindparam("author", type_=sa.BigInteger))
    return query
