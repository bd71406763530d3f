"""What differs between SQLite and PostgreSQL, in one object per database (as Synapse's engines).

Everything else in storage is written once, in SQLAlchemy Core or in plain SQL that both
databases run. A module that needs a database's own form asks the `Dialect` it is given
(`db.sql`, `tx.sql`), never `if dialect == ...`:

- the hot writes run as raw SQL on the driver, `$1`-numbered (SQLite gets them as `?1`): through
  SQLAlchemy a statement cost ~60-100 µs of compilation-cache lookups and result wrapping, on
  the writer that every write waits for;
- a batch of sends: SQLite appends them one by one (three statements each, microseconds in
  process); PostgreSQL as one statement for the whole batch (one round trip);
- a batch of new users, the same way;
- aggregates: member lists, and the joining of stored JSON records into one array.
- search: FTS5's MATCH on SQLite, a `simple` tsvector's @@ on PostgreSQL (storage/search.py).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from chatd.core.clock import rfc3339
from chatd.core.errors import ChatdError, UsernameTaken
from chatd.core.models import Message, UserId
from chatd.core.ports import NewMessage, NewUser
from chatd.storage.records import mentions_text, message_body
from chatd.storage.tables import EPOCH, MICROSECOND, chat_members, chats, from_micros, messages

# A change as the log stores it, without its position and time: type, chat, user, message, seq.
LogRow = tuple[str, int | None, int | None, int | None, int | None]


def const(text: str) -> sa.ColumnElement[str]:
    """A string constant written into the SQL itself, not bound: the listings' statements are
    compiled once, and the database sees a constant rather than a parameter to coerce. (Measured
    on a local cluster, a 100-chat listing takes 110-135 µs a round trip either way: the
    database's own work, ~0.1 ms of execution, is most of it.)"""
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.Text)


def micros(value: datetime) -> int:
    """A time as SQLite stores it (tables.Timestamp): integer microseconds since the epoch."""
    return (value - EPOCH) // MICROSECOND


class Dialect:
    name: str
    lanes: int  # how many group commits may be in the database at once (storage/groupcommit.py)

    def execute(self, conn: sa.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Runs one `$n`-numbered statement on the driver; its rows."""
        raise NotImplementedError

    def executemany(self, conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def time(self, value: datetime) -> Any:
        """A time as the driver binds it."""
        raise NotImplementedError

    def insert_messages(
        self, conn: sa.Connection, sends: Sequence[NewMessage]
    ) -> list[Message | None]:
        raise NotImplementedError

    def insert_users(
        self, conn: sa.Connection, users: Sequence[NewUser]
    ) -> list[UserId | ChatdError]:
        raise NotImplementedError

    def insert(self, table: sa.Table) -> Any:
        """INSERT with the database's ON CONFLICT clauses."""
        raise NotImplementedError

    def log_changes(self, conn: sa.Connection, rows: Sequence[LogRow], at: datetime) -> int:
        """Takes len(rows) consecutive positions of the change log (its row stays locked until
        commit) and logs the rows there, in order; the last position."""
        last = int(self.execute(conn, _LOG_BUMP, (len(rows),))[0][0])
        first = last - len(rows) + 1
        when = self.time(at)
        self.executemany(conn, _LOG_INSERT, [(first + i, *row, when) for i, row in enumerate(rows)])
        return last

    def member_list(self) -> sa.ScalarSelect[Any]:
        """A chat's member ids (correlated with `chats`) in one column, for member_ids()."""
        raise NotImplementedError

    def join_records(self, records: sa.ColumnElement[str], *order: Any) -> sa.ColumnElement[bytes]:
        """The aggregate joining JSON record texts into one array, in `order`, as UTF-8 bytes:
        what goes out, with no decoding into a str and encoding back on the way."""
        raise NotImplementedError

    def rows_for_join(self, rows: sa.Select[Any], *order: Any) -> sa.Select[Any]:
        """`rows` as join_records needs them: in `order` where the aggregate keeps the rows'
        order (SQLite), as they come where it sorts them itself (PostgreSQL: a second sort of
        the same rows would cost the database ~10 % of a listing)."""
        return rows.order_by(*order)

    def joined(
        self, listed: sa.Select[Any], record: sa.ColumnElement[str], *order: Any
    ) -> sa.Select[Any]:
        """The records of `listed`'s rows (its FROM and WHERE) joined into one array, in
        `order`."""
        rows = listed.with_only_columns(record.label("record")).order_by(*order).subquery()
        return sa.select(self.join_records(rows.c.record))

    def code_point_order(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        return column

    def text_query(self, words: Sequence[str], *, prefix: bool = True) -> str:
        """The words in the index's query language, every one a string (none is read as an
        operator), the last as a prefix unless `prefix` is False: text_matches' value."""
        raise NotImplementedError

    def text_matches(self, query: str) -> TextSearch:
        """Messages whose text holds the words of the bound parameter named `query` (a
        text_query; storage/search.py): the words are bound, never written into the SQL."""
        raise NotImplementedError

    def text_check(self, query: str) -> sa.ColumnElement[bool] | None:
        """text_matches' condition for rows already found, where no index serves it; None:
        chatd's own match says it (core/search.py's rule is the index's)."""
        return None

    def word_shares(self, conn: sa.Connection, index: str) -> dict[str, float] | None:
        """The share of messages holding each of the most common words, as the database's
        statistics of the text `index` tell; None where it keeps none."""
        return None

    def held_words(self, words: Sequence[str]) -> list[str]:
        """Which of the words text_holds can test (none: the walk reads every row)."""
        return []

    def text_holds(self, patterns: Sequence[str]) -> sa.ColumnElement[bool]:
        """A cheap condition every text holding the words meets (others may too), for the
        search's walk to leave out most rows in the database: each bound parameter named in
        `patterns` is `%word%` for one of held_words'."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    lanes = 1  # one writer: a second group would only wait behind the first

    def execute(self, conn: sa.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return _driver(conn).execute(_qmark(sql), params).fetchall()

    def executemany(self, conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        _driver(conn).executemany(_qmark(sql), rows)

    def time(self, value: datetime) -> Any:
        return micros(value)

    def insert_messages(
        self, conn: sa.Connection, sends: Sequence[NewMessage]
    ) -> list[Message | None]:
        db = _driver(conn)
        bump, insert, mark = _qmark(_BUMP), _qmark(_INSERT), _qmark(_MARK_READ)
        done: list[Message | None] = []
        for chat, author, text, now, reply_to, mentions in sends:
            at = micros(now)
            bumped = db.execute(bump, (at, chat, author, rfc3339(now))).fetchone()
            if bumped is None:
                done.append(None)
                continue
            seq, sent_at, sent_text = bumped
            body = message_body(chat, author, text, sent_text, reply_to)
            values = (chat, seq, author, text, sent_at, body, reply_to, mentions_text(mentions))
            message_id = db.execute(insert, values).fetchone()[0]
            db.execute(mark, (seq, chat, author))
            created_at = from_micros(sent_at)
            assert created_at is not None
            message = Message(message_id, chat, seq, author, text, created_at, mentions=mentions)
            done.append(message)
        return done

    def insert_users(
        self, conn: sa.Connection, users: Sequence[NewUser]
    ) -> list[UserId | ChatdError]:
        db = _driver(conn)
        insert = _qmark(_INSERT_USER)
        done: list[UserId | ChatdError] = []
        for user in users:
            row = db.execute(insert, (*user[:2], micros(user.now), *user[3:])).fetchone()
            done.append(UsernameTaken(user.username) if row is None else int(row[0]))
        return done

    def insert(self, table: sa.Table) -> Any:
        return sqlite.insert(table)

    def member_list(self) -> sa.ScalarSelect[Any]:
        member = chat_members.c.user_id
        return _correlated_members(sa.func.json_group_array(member))

    def join_records(self, records: sa.ColumnElement[str], *order: Any) -> sa.ColumnElement[bytes]:
        # SQLite joins in its subquery's order (the caller's ORDER BY there).
        joined = sa.func.group_concat(records, const(","))
        return sa.cast(const("[").concat(joined).concat(const("]")), sa.LargeBinary)

    def text_query(self, words: Sequence[str], *, prefix: bool = True) -> str:
        # FTS5's query language: "a" "b"* holds a and a word beginning with b. Each word is a
        # string (a `"` doubled), so none is read as an operator (AND, NEAR, column:).
        query = " ".join('"' + word.replace('"', '""') + '"' for word in words)
        return query + "*" if prefix else query

    def text_matches(self, query: str) -> TextSearch:
        match = sa.literal_column(_fts.name).op("MATCH")(sa.bindparam(query, type_=sa.Text))
        # Read from the index, newest first, joined to the rows: FTS5 gives its matches in
        # rowid order as it finds them, so the newest page stops after its rows. Filtering
        # messages by `id IN (matches)` made SQLite collect every match first: with a word that
        # a million messages hold, 0.35 s a search instead of milliseconds.
        source = _fts.join(messages, messages.c.id == _fts.c.rowid)
        return TextSearch(source, match, _fts.c.rowid, _fts.c.rowid.desc())

    def held_words(self, words: Sequence[str]) -> list[str]:
        # SQLite's LIKE ignores case for ASCII letters only: a word with another letter (any
        # Cyrillic one) is left to chatd's match, or "Привет" would not hold "привет".
        return [word for word in words if word.isascii()]

    def text_holds(self, patterns: Sequence[str]) -> sa.ColumnElement[bool]:
        return sa.and_(*(messages.c.text.like(sa.bindparam(name)) for name in patterns))


class PostgresDialect(Dialect):
    name = "postgresql"
    lanes = 2

    def execute(self, conn: sa.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        result = conn.exec_driver_sql(sql, tuple(params))
        return list(result.all()) if result.returns_rows else []

    def executemany(self, conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn.exec_driver_sql(sql, [tuple(row) for row in rows])

    def time(self, value: datetime) -> Any:
        return value

    def insert_messages(
        self, conn: sa.Connection, sends: Sequence[NewMessage]
    ) -> list[Message | None]:
        # The batch's chats are locked in id order (the lock order of every batch in every
        # process: batches cannot deadlock each other) and their times read under the lock, so
        # each message's time text is made here, once per chat.
        now = max(send.now for send in sends)
        times = {
            chat: max(last, now)
            for chat, last in self.execute(
                conn, _LOCK_CHATS, (sorted({send.chat for send in sends}),)
            )
        }
        texts = {chat: rfc3339(at) for chat, at in times.items()}
        epoch = EPOCH  # a chat that is gone: the send is refused, any value does
        rows = self.execute(
            conn,
            _SEND_ALL,
            (
                list(range(len(sends))),
                [send.chat for send in sends],
                [send.author for send in sends],
                [send.text for send in sends],
                [times.get(send.chat, epoch) for send in sends],
                [texts.get(send.chat, "") for send in sends],
                [
                    message_body(
                        send.chat, send.author, send.text, texts.get(send.chat, ""), send.reply_to
                    )
                    for send in sends
                ],
                [send.reply_to for send in sends],
                [mentions_text(send.mentions) for send in sends],
            ),
        )
        done: list[Message | None] = [None] * len(sends)
        for idx, message_id, seq, created_at in rows:
            chat, author, text, _now, _reply_to, mentions = sends[idx]
            done[idx] = Message(message_id, chat, seq, author, text, created_at, mentions=mentions)
        return done

    def insert_users(
        self, conn: sa.Connection, users: Sequence[NewUser]
    ) -> list[UserId | ChatdError]:
        columns = [list(column) for column in zip(*users, strict=True)]
        ids = dict(self.execute(conn, _INSERT_USERS, [list(range(len(users))), *columns]))
        done: list[UserId | ChatdError] = []
        for user in users:
            # The first of the batch with a free name got it; the others find it taken.
            found = ids.pop(user.username_key, None)
            done.append(UsernameTaken(user.username) if found is None else int(found))
        return done

    def insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    def log_changes(self, conn: sa.Connection, rows: Sequence[LogRow], at: datetime) -> int:
        # One round trip instead of two: the positions are taken and the rows logged in one
        # statement.
        columns = list(zip(*rows, strict=True))
        return int(self.execute(conn, _LOG_ALL, (len(rows), *map(list, columns), at))[0][0])

    def member_list(self) -> sa.ScalarSelect[Any]:
        member = chat_members.c.user_id
        return _correlated_members(sa.func.array_agg(member).aggregate_order_by(member))

    def join_records(self, records: sa.ColumnElement[str], *order: Any) -> sa.ColumnElement[bytes]:
        joined = sa.func.string_agg(records, const(",")).aggregate_order_by(*order)
        text = const("[").concat(sa.func.coalesce(joined, const(""))).concat(const("]"))
        # From the database's encoding; a copy where that is UTF-8, as it usually is.
        return sa.func.convert_to(text, const("UTF8"), type_=sa.LargeBinary)

    def rows_for_join(self, rows: sa.Select[Any], *order: Any) -> sa.Select[Any]:
        return rows

    def joined(
        self, listed: sa.Select[Any], record: sa.ColumnElement[str], *order: Any
    ) -> sa.Select[Any]:
        # In one level: the aggregate sorts the rows itself.
        return listed.with_only_columns(self.join_records(record, *order))

    def code_point_order(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        # PostgreSQL sorts by the database's locale (where `_` may weigh nothing); "C" is the
        # code point order SQLite's default BINARY collation uses.
        return column.collate("C")

    def text_query(self, words: Sequence[str], *, prefix: bool = True) -> str:
        # Each word a quoted lexeme ('' for a quote), the last one a prefix: 'a' & 'b':*.
        lexemes = ["'" + word.replace("\\", "\\\\").replace("'", "''") + "'" for word in words]
        return " & ".join(lexemes) + (":*" if prefix else "")

    def text_matches(self, query: str) -> TextSearch:
        # The tsvector is written as migration 0007's index is, which it then uses.
        tsquery = sa.func.to_tsquery(_SIMPLE, sa.bindparam(query, type_=sa.Text))
        match = sa.func.to_tsvector(_SIMPLE, messages.c.text).bool_op("@@")(tsquery)
        # Ordered by an expression, not the key: the planner must take the GIN index's matches
        # and sort them (cost grows with the matches), never walk the key newest first
        # filtering every row through to_tsvector (4.5 µs a row: 0.6 s for a rare word on a
        # million messages). The walk newest first is storage/search.py's first step, bounded.
        return TextSearch(messages, match, messages.c.id, (messages.c.id + 0).desc())

    def text_check(self, query: str) -> sa.ColumnElement[bool] | None:
        # The index's own rule (its tokens differ from chatd's words for e-mail addresses,
        # URLs and decimals), at ~4.5 µs a row.
        return self.text_matches(query).condition

    def word_shares(self, conn: sa.Connection, index: str) -> dict[str, float] | None:
        # ANALYZE keeps, for an expression index's tsvector, the lexemes most often met in its
        # sample and the share of rows holding each (most_common_elem_freqs has three more
        # entries, which unnest pairs with no lexeme).
        shares = {word: share for word, share in conn.execute(_WORD_SHARES, {"index": index})}
        return shares or None

    def held_words(self, words: Sequence[str]) -> list[str]:
        return list(words)

    def text_holds(self, patterns: Sequence[str]) -> sa.ColumnElement[bool]:
        # Each word as a substring, in any case: ~0.3 µs a row where to_tsvector costs 4.5 µs,
        # and only the rows it lets through travel to chatd to be matched word by word. (A
        # word holds letters and digits only: nothing to escape for LIKE.)
        return sa.and_(*(messages.c.text.ilike(sa.bindparam(name)) for name in patterns))


class TextSearch(NamedTuple):
    """How a database finds messages by their words: read `source` where `condition` holds,
    newest first (`order`) by `newest` (a message id)."""

    source: sa.FromClause
    condition: sa.ColumnElement[bool]
    newest: sa.ColumnElement[int]
    order: sa.UnaryExpression[int]


# Search (storage/search.py): SQLite's FTS5 index of messages.text, made by migration 0007, and
# PostgreSQL's text search configuration of its index (lowercased words, no stemming).
_fts = sa.table("messages_fts", sa.column("rowid", sa.Integer))
_SIMPLE: sa.ColumnElement[str] = sa.literal_column("'simple'::regconfig")
_WORD_SHARES = sa.text(
    "SELECT word, share FROM pg_stats,"
    " unnest(most_common_elems::text::text[], most_common_elem_freqs) AS e(word, share)"
    " WHERE schemaname = current_schema() AND tablename = :index AND word IS NOT NULL"
)


def _correlated_members(aggregate: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    return sa.select(aggregate).where(chat_members.c.chat_id == chats.c.id).scalar_subquery()


def _driver(conn: sa.Connection) -> sqlite3.Connection:
    raw: Any = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


@cache
def _qmark(sql: str) -> str:
    """SQLite's spelling of `$n` parameters."""
    return re.sub(r"\$(\d+)", r"?\1", sql)


# SQLite's send: the chat's bump is also the membership and not-blocked check (no row: refused);
# its time never goes back, and its stored time text moves with it.
_BUMP = """
UPDATE chats SET last_seq = last_seq + 1,
                 last_message_at = max(last_message_at, $1),
                 last_message_text = CASE WHEN $1 >= last_message_at THEN $4
                                          ELSE last_message_text END
WHERE id = $2
  AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $2 AND user_id = $3)
  AND NOT EXISTS (SELECT 1 FROM users WHERE id = $3 AND blocked_at IS NOT NULL)
RETURNING last_seq, last_message_at, last_message_text
"""
_INSERT = """
INSERT INTO messages (chat_id, seq, author_id, text, created_at, body, reply_to_id, mentions)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
"""
_MARK_READ = "UPDATE chat_members SET last_read_seq = $1 WHERE chat_id = $2 AND user_id = $3"

_INSERT_USER = """
INSERT INTO users (username, username_key, created_at, password_hash, email, role)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username_key) DO NOTHING RETURNING id
"""

# The change log (storage/changes.py): its one row gives out positions.
_LOG_BUMP = "UPDATE change_log SET last_pos = last_pos + $1 WHERE id = 1 RETURNING last_pos"
_LOG_INSERT = """
INSERT INTO changes (pos, type, chat_id, user_id, message_id, seq, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

# PostgreSQL's. FOR NO KEY UPDATE would do for the sends alone; FOR UPDATE is what a leave and
# a deletion take, and the batch then waits for them, and they for it, the same way.
_LOCK_CHATS = """
SELECT id, last_message_at FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
"""

# Every send of the batch in one statement, under the locks taken just before (so the membership
# check's snapshot sees a leave the lock waited for): the members' sends (author in the chat,
# not blocked) bump their chat once by their count, take consecutive seqs in arrival order, are
# inserted with their stored records, and move each author's read marker to their last seq.
_SEND_ALL = """
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::text[],
                         $5::timestamptz[], $6::text[], $7::text[], $8::bigint[], $9::text[])
        AS t(idx, chat, author, text, at, at_text, body, reply_to, mentions)
), allowed AS (
    SELECT input.* FROM input
    WHERE EXISTS (SELECT 1 FROM chat_members m
                  WHERE m.chat_id = input.chat AND m.user_id = input.author)
      AND NOT EXISTS (SELECT 1 FROM users u
                      WHERE u.id = input.author AND u.blocked_at IS NOT NULL)
), counts AS (
    SELECT chat, count(*) AS n, max(at) AS at, max(at_text) AS at_text
    FROM allowed GROUP BY chat
), bumped AS (
    UPDATE chats SET last_seq = chats.last_seq + counts.n,
                     last_message_at = counts.at, last_message_text = counts.at_text
    FROM counts WHERE chats.id = counts.chat
    RETURNING chats.id, chats.last_seq
), numbered AS (
    SELECT allowed.idx, allowed.chat, allowed.author, allowed.text, allowed.at, allowed.body,
           allowed.reply_to, allowed.mentions,
           bumped.last_seq - counts.n
             + row_number() OVER (PARTITION BY allowed.chat ORDER BY allowed.idx) AS seq
    FROM allowed JOIN counts ON counts.chat = allowed.chat JOIN bumped ON bumped.id = allowed.chat
), inserted AS (
    INSERT INTO messages (chat_id, seq, author_id, text, created_at, body, reply_to_id, mentions)
    SELECT chat, seq, author, text, at, body, reply_to, mentions FROM numbered
    RETURNING id, chat_id, seq, created_at
), marked AS (
    UPDATE chat_members SET last_read_seq = last.seq
    FROM (SELECT chat, author, max(seq) AS seq FROM numbered GROUP BY chat, author) AS last
    WHERE chat_members.chat_id = last.chat AND chat_members.user_id = last.author
)
SELECT numbered.idx, inserted.id, inserted.seq, inserted.created_at
FROM inserted JOIN numbered ON numbered.chat = inserted.chat_id AND numbered.seq = inserted.seq
ORDER BY inserted.chat_id, inserted.seq
"""

# The change log's positions taken and a group's changes logged, in one statement.
_LOG_ALL = """
WITH bump AS (
    UPDATE change_log SET last_pos = last_pos + $1 WHERE id = 1 RETURNING last_pos
), logged AS (
    INSERT INTO changes (pos, type, chat_id, user_id, message_id, seq, created_at)
    SELECT bump.last_pos - $1 + c.n, c.type, c.chat, c.usr, c.message, c.seq, $7
    FROM bump, unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
        WITH ORDINALITY AS c(type, chat, usr, message, seq, n)
)
SELECT last_pos FROM bump
"""

# New users of a batch in one statement; a name taken (before, or earlier in the batch) inserts
# nothing and returns no row.
_INSERT_USERS = """
INSERT INTO users (username, username_key, created_at, password_hash, email, role)
SELECT username, username_key, created_at, password_hash, email, role
FROM unnest($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
            $7::text[]) AS t(idx, username, username_key, created_at, password_hash, email, role)
ORDER BY idx
ON CONFLICT (username_key) DO NOTHING
RETURNING username_key, id
"""


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
