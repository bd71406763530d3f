"""SqlStore: the core's Store port over SQLAlchemy Core, one implementation for both databases.

Statements are built once at import with bind parameters; a request only binds values. Driver
errors (unique violations) become core errors here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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
from chatd.storage.tables import UTCDateTime, chat_members, chats, messages, users

# SQLite accepts at most 32766 parameters in one statement; stay far below.
ID_CHUNK = 500

_chat = sa.bindparam("chat", type_=sa.BigInteger)
_author = sa.bindparam("author", type_=sa.BigInteger)
_now = sa.bindparam("now", type_=UTCDateTime)

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
    query = sa.select(*_MESSAGE_COLUMNS).where(messages.c.chat_id == _chat)
    if page.after is not None:
        query = query.where(messages.c.seq > _seq_of("after"))
    if page.before is not None:
        query = query.where(messages.c.seq < _seq_of("before"))
    # Walk forward from `after`; otherwise take the newest messages (before the cursor).
    forward = page.after is not None or page.limit is None
    query = query.order_by(messages.c.seq if forward else messages.c.seq.desc())
    if page.limit is not None:
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
    return Message(
        id=row.id,
        chat=row.chat_id,
        seq=row.seq,
        author=row.author_id,
        text=row.text,
        created_at=row.created_at,
    )


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


class SqlStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._one_statement_send = db.dialect == "postgresql"
        self._members_agg = _members_aggregate(db.dialect)

    async def add_user(self, username: str, username_key: str, now: datetime) -> UserId:
        try:
            async with self.db.writer.begin() as conn:
                result = await conn.execute(
                    users.insert().returning(users.c.id),
                    {"username": username, "username_key": username_key, "created_at": now},
                )
                return int(result.scalar_one())
        except sa.exc.IntegrityError as exc:
            raise UsernameTaken(username) from exc

    async def create_chat(self, name: str, users_: Sequence[UserId], now: datetime) -> ChatId:
        try:
            async with self.db.writer.begin() as conn:
                await _require_users(conn, users_)
                result = await conn.execute(
                    chats.insert().returning(chats.c.id),
                    {"name": name, "created_at": now, "last_message_at": now},
                )
                chat_id = int(result.scalar_one())
                await conn.execute(
                    chat_members.insert(),
                    [{"chat_id": chat_id, "user_id": u, "created_at": now} for u in users_],
                )
                return chat_id
        except sa.exc.IntegrityError as exc:
            raise ChatNameTaken(name) from exc

    async def post_message(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        params = {"chat": chat, "author": author, "now": now, "text": text}
        async with self.db.writer.begin() as conn:
            if self._one_statement_send:
                row = (await conn.execute(_BUMP_AND_INSERT, params)).first()
                if row is None:
                    await _explain_refused_send(conn, chat, author)
                assert row is not None
                message_id, seq, created_at = row.id, row.seq, row.created_at
            else:
                bumped = (await conn.execute(_BUMP_CHAT, params)).first()
                if bumped is None:
                    await _explain_refused_send(conn, chat, author)
                assert bumped is not None
                seq, created_at = bumped.last_seq, bumped.last_message_at
                inserted = await conn.execute(
                    _INSERT_MESSAGE,
                    {
                        "chat_id": chat,
                        "seq": seq,
                        "author_id": author,
                        "text": text,
                        "created_at": created_at,
                    },
                )
                message_id = inserted.scalar_one()
        return Message(
            id=message_id, chat=chat, seq=seq, author=author, text=text, created_at=created_at
        )

    async def list_user_chats(self, user: UserId) -> list[Chat]:
        mine = chat_members.alias("mine")
        members = (
            sa.select(self._members_agg)
            .where(chat_members.c.chat_id == chats.c.id)
            .scalar_subquery()
        )
        query = (
            sa.select(
                chats.c.id, chats.c.name, chats.c.created_at, chats.c.last_message_at, members
            )
            .join(mine, mine.c.chat_id == chats.c.id)
            .where(mine.c.user_id == user)
            .order_by(chats.c.last_message_at.desc(), chats.c.id.desc())
        )
        async with self.db.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
            if not rows and not await _exists(conn, users, user):
                raise UserNotFound([user])
        return [
            Chat(
                id=row.id,
                name=row.name,
                users=_member_ids(row[4]),
                created_at=row.created_at,
                last_message_at=row.last_message_at,
            )
            for row in rows
        ]

    async def list_messages(self, chat: ChatId, page: Page) -> list[Message]:
        params: dict[str, Any] = {"chat": chat, "limit": page.limit}
        params.update(before=page.before, after=page.after)
        async with self.db.reader.connect() as conn:
            rows = (await conn.execute(_history_query(page), params)).all()
            if not rows:
                await _explain_empty_page(conn, chat, page)
        found = [_message(row) for row in rows]
        if page.after is None and page.limit is not None:
            found.reverse()
        return found

    async def stream_messages(self, chat: ChatId, batch: int) -> AsyncIterator[list[Message]]:
        async with self.db.reader.connect() as conn:
            last_seq = (
                await conn.execute(sa.select(chats.c.last_seq).where(chats.c.id == chat))
            ).scalar()
        if last_seq is None:
            raise ChatNotFound(chat)
        from_seq = 0
        while True:
            async with self.db.reader.connect() as conn:
                params = {"chat": chat, "from_seq": from_seq, "to_seq": last_seq, "limit": batch}
                rows = (await conn.execute(_HISTORY_BATCH, params)).all()
            yield [_message(row) for row in rows]
            if len(rows) < batch:
                return
            from_seq = rows[-1].seq


def _members_aggregate(dialect: str) -> sa.ColumnElement[Any]:
    # One row per chat with its member ids: an array on PostgreSQL, a list string on SQLite.
    if dialect == "postgresql":
        member = chat_members.c.user_id
        return sa.func.array_agg(member).aggregate_order_by(member)
    return sa.func.group_concat(chat_members.c.user_id)


def _member_ids(value: Any) -> list[UserId]:
    if isinstance(value, str):
        return sorted(int(part) for part in value.split(","))
    return list(value or [])


async def _exists(conn: AsyncConnection, table: sa.Table, row_id: int) -> bool:
    query = sa.select(sa.literal(1)).where(table.c.id == row_id)
    return (await conn.execute(query)).first() is not None


async def _require_users(conn: AsyncConnection, ids: Sequence[UserId]) -> None:
    found: set[int] = set()
    for chunk in _chunks(ids):
        rows = await conn.execute(sa.select(users.c.id).where(users.c.id.in_(chunk)))
        found.update(row.id for row in rows)
    missing = set(ids) - found
    if missing:
        raise UserNotFound(missing)


async def _explain_refused_send(conn: AsyncConnection, chat: ChatId, author: UserId) -> None:
    if not await _exists(conn, chats, chat):
        raise ChatNotFound(chat)
    if not await _exists(conn, users, author):
        raise UserNotFound([author])
    raise NotAMember(author, chat)


async def _explain_empty_page(conn: AsyncConnection, chat: ChatId, page: Page) -> None:
    if not await _exists(conn, chats, chat):
        raise ChatNotFound(chat)
    for cursor in (page.before, page.after):
        if cursor is None:
            continue
        query = sa.select(sa.literal(1)).where(messages.c.id == cursor, messages.c.chat_id == chat)
        if (await conn.execute(query)).first() is None:
            raise MessageNotFound(cursor, chat)
