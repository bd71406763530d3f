"""SqlStore: the core's Store port over SQLAlchemy Core, one implementation for both databases.

Each operation is a plain function of a `Connection`; `Database.read`/`write` decide where and in
which transaction it runs (storage/database.py). Statements are built once at import with bind
parameters, so a request only binds values. Driver errors (unique violations) become core
errors here and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from chatd.core.errors import (
    ChatNameTaken,
    ChatNotFound,
    MessageNotFound,
    NotAMember,
    UsernameTaken,
    UserNotFound,
)
from chatd.core.models import Chat, ChatId, Message, Page, UserId
from chatd.storage.database import Database
from chatd.storage.tables import Timestamp, chat_members, chats, messages, users

# SQLite accepts at most 32766 parameters in one statement; stay far below.
ID_CHUNK = 500

_chat = sa.bindparam("chat", type_=sa.BigInteger)
_author = sa.bindparam("author", type_=sa.BigInteger)
_now = sa.bindparam("now", type_=Timestamp)

# Bump the chat's seq and activity time; the WHERE doubles as the membership check, so a send
# is one round trip on the happy path. The time never goes back, so within a chat the order of
# seq, id and created_at agree.
_BUMP_CHAT = (
    chats.update()
    .where(
        chats.c.id == _chat,
        sa.exists().where(chat_members.c.chat_id == _chat, chat_members.c.user_id == _author),
    )
    .values(
        last_seq=chats.c.last_seq + 1,
        last_message_at=sa.case(
            (chats.c.last_message_at > _now, chats.c.last_message_at), else_=_now
        ),
    )
    .returning(chats.c.last_seq, chats.c.last_message_at)
)

_INSERT_MESSAGE = messages.insert().returning(messages.c.id)


def _bump_and_insert() -> sa.Insert:
    # PostgreSQL: one statement, so the chat's row lock is held for one round trip, not three.
    bumped = _BUMP_CHAT.cte("bumped")
    source = sa.select(
        _chat,
        bumped.c.last_seq,
        _author,
        sa.bindparam("text", type_=sa.Text),
        bumped.c.last_message_at,
    )
    return (
        messages.insert()
        .from_select(["chat_id", "seq", "author_id", "text", "created_at"], source)
        .add_cte(bumped, nest_here=True)
        .returning(messages.c.id, messages.c.seq, messages.c.created_at)
    )


_BUMP_AND_INSERT = _bump_and_insert()

_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.chat_id,
    messages.c.seq,
    messages.c.author_id,
    messages.c.text,
    messages.c.created_at,
)


def _seq_of(cursor: str) -> sa.ScalarSelect[Any]:
    return (
        sa.select(messages.c.seq)
        .where(messages.c.id == sa.bindparam(cursor), messages.c.chat_id == _chat)
        .scalar_subquery()
    )


def _history_query(page: Page) -> sa.Select[Any]:
    return _history_query_shaped(
        page.after is not None, page.before is not None, page.limit is not None
    )


@functools.cache
def _history_query_shaped(after: bool, before: bool, limit: bool) -> sa.Select[Any]:
    # Eight shapes in all, each built once.
    query = sa.select(*_MESSAGE_COLUMNS).where(messages.c.chat_id == _chat)
    if after:
        query = query.where(messages.c.seq > _seq_of("after"))
    if before:
        query = query.where(messages.c.seq < _seq_of("before"))
    # Walk forward from `after`; otherwise take the newest messages (before the cursor).
    forward = after or not limit
    query = query.order_by(messages.c.seq if forward else messages.c.seq.desc())
    if limit:
        query = query.limit(sa.bindparam("limit"))
    return query


_HISTORY_BATCH = (
    sa.select(*_MESSAGE_COLUMNS)
    .where(
        messages.c.chat_id == _chat,
        messages.c.seq > sa.bindparam("from_seq"),
        messages.c.seq <= sa.bindparam("to_seq"),
    )
    .order_by(messages.c.seq)
    .limit(sa.bindparam("limit"))
)


def _message(row: sa.Row[*tuple[Any, ...]]) -> Message:
    # Positional: _MESSAGE_COLUMNS are in Message's field order (a hot path: 100 rows a page).
    return Message(*row)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def _exists(conn: sa.Connection, table: sa.Table, row_id: int) -> bool:
    query = sa.select(sa.literal(1)).where(table.c.id == row_id)
    return conn.execute(query).first() is not None


class SqlStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        one_statement = db.dialect == "postgresql"
        self._post = _post_one_statement if one_statement else _post_two_statements
        self._write_post = db.write_one if one_statement else db.write
        self._user_chats = _user_chats_query(db.dialect)

    async def add_user(self, username: str, username_key: str, now: datetime) -> UserId:
        values = {"username": username, "username_key": username_key, "created_at": now}
        try:
            return await self.db.write(_insert_id, users, values)
        except sa.exc.IntegrityError as exc:
            raise UsernameTaken(username) from exc

    async def create_chat(self, name: str, users_: Sequence[UserId], now: datetime) -> ChatId:
        try:
            return await self.db.write(_create_chat, name, users_, now)
        except sa.exc.IntegrityError as exc:
            raise ChatNameTaken(name) from exc

    async def post_message(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        return await self._write_post(self._post, chat, author, text, now)

    async def list_user_chats(self, user: UserId) -> list[Chat]:
        return await self.db.read(_list_user_chats, self._user_chats, user)

    async def list_messages(self, chat: ChatId, page: Page) -> list[Message]:
        return await self.db.read(_list_messages, chat, page)

    async def stream_messages(self, chat: ChatId, batch: int) -> AsyncIterator[list[Message]]:
        last_seq = await self.db.read(_last_seq, chat)
        if last_seq is None:
            raise ChatNotFound(chat)
        from_seq = 0
        while True:
            rows = await self.db.read(_history_batch, chat, from_seq, last_seq, batch)
            yield rows
            if len(rows) < batch:
                return
            from_seq = rows[-1].seq


def _insert_id(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> int:
    return int(conn.execute(table.insert().returning(table.c.id), values).scalar_one())


def _create_chat(conn: sa.Connection, name: str, members: Sequence[UserId], now: datetime) -> int:
    _require_users(conn, members)
    chat_id = _insert_id(conn, chats, {"name": name, "created_at": now, "last_message_at": now})
    conn.execute(
        chat_members.insert(),
        [{"chat_id": chat_id, "user_id": u, "created_at": now} for u in members],
    )
    return chat_id


def _require_users(conn: sa.Connection, ids: Sequence[UserId]) -> None:
    found: set[int] = set()
    for chunk in _chunks(ids):
        found.update(conn.execute(sa.select(users.c.id).where(users.c.id.in_(chunk))).scalars())
    missing = set(ids) - found
    if missing:
        raise UserNotFound(missing)


def _post_one_statement(
    conn: sa.Connection, chat: ChatId, author: UserId, text: str, now: datetime
) -> Message:
    params = {"chat": chat, "author": author, "now": now, "text": text}
    row = conn.execute(_BUMP_AND_INSERT, params).first()
    if row is None:
        _explain_refused_send(conn, chat, author)
    assert row is not None
    return Message(row.id, chat, row.seq, author, text, row.created_at)


def _post_two_statements(
    conn: sa.Connection, chat: ChatId, author: UserId, text: str, now: datetime
) -> Message:
    bumped = conn.execute(_BUMP_CHAT, {"chat": chat, "author": author, "now": now}).first()
    if bumped is None:
        _explain_refused_send(conn, chat, author)
    assert bumped is not None
    seq, created_at = bumped.last_seq, bumped.last_message_at
    values = {
        "chat_id": chat,
        "seq": seq,
        "author_id": author,
        "text": text,
        "created_at": created_at,
    }
    message_id = conn.execute(_INSERT_MESSAGE, values).scalar_one()
    return Message(message_id, chat, seq, author, text, created_at)


def _explain_refused_send(conn: sa.Connection, chat: ChatId, author: UserId) -> None:
    if not _exists(conn, chats, chat):
        raise ChatNotFound(chat)
    if not _exists(conn, users, author):
        raise UserNotFound([author])
    raise NotAMember(author, chat)


def _user_chats_query(dialect: str) -> sa.Select[Any]:
    # Members come aggregated, one row per chat: an array on PostgreSQL, a JSON array on SQLite.
    member = chat_members.c.user_id
    aggregate: sa.ColumnElement[Any]
    if dialect == "postgresql":
        aggregate = sa.func.array_agg(member).aggregate_order_by(member)
    else:
        aggregate = sa.func.json_group_array(member)
    members = sa.select(aggregate).where(chat_members.c.chat_id == chats.c.id).scalar_subquery()
    mine = chat_members.alias("mine")
    return (
        sa.select(chats.c.id, chats.c.name, chats.c.created_at, chats.c.last_message_at, members)
        .join(mine, mine.c.chat_id == chats.c.id)
        .where(mine.c.user_id == sa.bindparam("user"))
        .order_by(chats.c.last_message_at.desc(), chats.c.id.desc())
    )


def _member_ids(value: Any) -> list[UserId]:
    if isinstance(value, str):
        # SQLite does not promise an order inside an aggregate.
        return sorted(orjson.loads(value))
    return value  # type: ignore[no-any-return]


def _list_user_chats(conn: sa.Connection, query: sa.Select[Any], user: UserId) -> list[Chat]:
    rows = conn.execute(query, {"user": user}).all()
    if not rows and not _exists(conn, users, user):
        raise UserNotFound([user])
    return [
        Chat(id_, name, _member_ids(members), created_at, last_message_at)
        for id_, name, created_at, last_message_at, members in rows
    ]


def _list_messages(conn: sa.Connection, chat: ChatId, page: Page) -> list[Message]:
    params = {"chat": chat, "limit": page.limit, "before": page.before, "after": page.after}
    rows = conn.execute(_history_query(page), params).all()
    if not rows:
        _explain_empty_page(conn, chat, page)
    found = [_message(row) for row in rows]
    if page.after is None and page.limit is not None:
        found.reverse()  # fetched newest first to take the newest `limit`
    return found


def _explain_empty_page(conn: sa.Connection, chat: ChatId, page: Page) -> None:
    if not _exists(conn, chats, chat):
        raise ChatNotFound(chat)
    for cursor in (page.before, page.after):
        if cursor is None:
            continue
        query = sa.select(sa.literal(1)).where(messages.c.id == cursor, messages.c.chat_id == chat)
        if conn.execute(query).first() is None:
            raise MessageNotFound(cursor, chat)


def _last_seq(conn: sa.Connection, chat: ChatId) -> int | None:
    value = conn.execute(sa.select(chats.c.last_seq).where(chats.c.id == chat)).scalar()
    return None if value is None else int(value)


def _history_batch(
    conn: sa.Connection, chat: ChatId, from_seq: int, to_seq: int, limit: int
) -> list[Message]:
    params = {"chat": chat, "from_seq": from_seq, "to_seq": to_seq, "limit": limit}
    return [_message(row) for row in conn.execute(_HISTORY_BATCH, params)]
