"""The Avito API's hot listings as JSON documents that the database builds itself.

A 100-chat listing fetched as rows cost ~0.5 ms of Python per request (decoding, records,
rendering) against ~0.15 ms for the query: the server was CPU-bound. Built in SQL (json_agg on
PostgreSQL, json_group_array on SQLite, both in C), the listing reaches Python as one text value
that goes out as it is. The shapes and the time format are exactly api/render.py's (RFC 3339,
UTC, six fraction digits); tests/api/test_times.py holds both to the same strings at edge times.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from chatd.core.models import ChatId, Page, UserId
from chatd.storage import history
from chatd.storage.database import Database
from chatd.storage.tables import chat_members, chats

_PG_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_MICROS = 1_000_000  # a second


def _rfc3339(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[str]:
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), _PG_TIME, type_=sa.String)
    # SQLite stores integer microseconds. Whole seconds and fraction are split in integers: as
    # a float, strftime rounds the time to the millisecond, and .9995 s became the next second.
    # SQLite's % keeps the dividend's sign, so the fraction is taken modulo twice for pre-1970.
    # datetime() formats as strftime would, ~3x faster (0.13 against 0.4 us a value, measured:
    # two times a chat were a third of a 100-chat listing); its space becomes the "T".
    micros = sa.type_coerce(column, sa.BigInteger)
    fraction = (micros % _MICROS + _MICROS) % _MICROS
    seconds = sa.func.datetime((micros - fraction) // _MICROS, "unixepoch", type_=sa.String)
    return sa.func.replace(seconds, " ", "T", type_=sa.String).concat(
        sa.func.printf(".%06dZ", fraction, type_=sa.String)
    )


def _object(dialect: str, **fields: Any) -> sa.ColumnElement[Any]:
    build = sa.func.json_build_object if dialect == "postgresql" else sa.func.json_object
    return build(*(part for name, value in fields.items() for part in (sa.literal(name), value)))


def _members(dialect: str) -> sa.ColumnElement[Any]:
    member = chat_members.c.user_id
    if dialect == "postgresql":
        aggregate = sa.func.json_agg(member).aggregate_order_by(member)
        members = sa.select(aggregate).where(chat_members.c.chat_id == chats.c.id)
        return members.correlate(chats).scalar_subquery()
    # Ascending without an ORDER BY: the rows come from the primary key (chat_id, user_id), in
    # its order. An ORDER BY here made SQLite copy them into a co-routine first, which cost a
    # third of a 100-chat listing. json() marks the text as JSON, so json_object embeds an array.
    ids = sa.func.group_concat(member, type_=sa.String)
    members = sa.select(sa.literal("[").concat(ids).concat("]"))
    members = members.where(chat_members.c.chat_id == chats.c.id).correlate(chats)
    return sa.func.json(members.scalar_subquery())


def _aggregate(dialect: str, rows: sa.Subquery, *order: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """One JSON array of `rows.c.doc`, in `order` (SQLite keeps its subquery's order), or
    NULL (SQLite) or none (PostgreSQL) when there are no rows."""
    if dialect == "postgresql":
        # As text: the driver would otherwise decode the JSON into Python objects.
        aggregate = sa.func.json_agg(rows.c.doc).aggregate_order_by(*order)
        return sa.select(sa.cast(aggregate, sa.Text))
    # Joined as text: json_group_array(json(doc)) parsed every document again.
    documents = sa.func.group_concat(rows.c.doc, ",", type_=sa.String)
    return sa.select(sa.literal("[").concat(documents).concat("]"))


@functools.cache
def user_chats_query(dialect: str) -> sa.Select[Any]:
    doc = _object(
        dialect,
        id=chats.c.id,
        name=chats.c.name,
        users=_members(dialect),
        created_at=_rfc3339(chats.c.created_at, dialect),
        last_message_at=_rfc3339(chats.c.last_message_at, dialect),
    )
    mine = chat_members.alias("mine")
    rows = (
        sa.select(doc.label("doc"), chats.c.last_message_at, chats.c.id)
        .join(mine, mine.c.chat_id == chats.c.id)
        .where(mine.c.user_id == sa.bindparam("user"))
        .order_by(chats.c.last_message_at.desc(), chats.c.id.desc())
        .subquery()
    )
    return _aggregate(dialect, rows, rows.c.last_message_at.desc(), rows.c.id.desc())


@functools.cache
def messages_query(dialect: str, after: bool, before: bool, limit: bool) -> sa.Select[Any]:
    return _messages(dialect, history.page_query(after, before, limit).subquery())


@functools.cache
def seq_range_query(dialect: str) -> sa.Select[Any]:
    return _messages(dialect, history.seq_range_query().subquery())


def _messages(dialect: str, page: sa.Subquery) -> sa.Select[Any]:
    doc = _object(
        dialect,
        id=page.c.id,
        chat=page.c.chat_id,
        author=page.c.author_id,
        text=page.c.text,
        created_at=_rfc3339(page.c.created_at, dialect),
    )
    rows = sa.select(doc.label("doc"), page.c.seq).order_by(page.c.seq).subquery()
    return _aggregate(dialect, rows, rows.c.seq)


def _document(value: Any) -> bytes | None:
    """The document, or None for an empty listing."""
    return None if value is None or value == "[]" else str(value).encode()


async def user_chats(db: Database, user: UserId) -> bytes | None:
    return _document(await db.scalar(user_chats_query(db.dialect), {"user": user}))


async def messages_page(db: Database, chat: ChatId, page: Page) -> bytes:
    query = messages_query(
        db.dialect, page.after is not None, page.before is not None, page.limit is not None
    )
    params = {"chat": chat, "limit": page.limit, "before": page.before, "after": page.after}
    found = _document(await db.scalar(query, params))
    if found is None:
        await db.read(history.explain_empty_page, chat, page)
        return b"[]"
    return found


async def history_slice(db: Database, chat: ChatId, from_seq: int, to_seq: int) -> bytes | None:
    """The visible messages with from_seq < seq <= to_seq, or None if there are none."""
    params = {"chat": chat, "from_seq": from_seq, "to_seq": to_seq}
    return _document(await db.scalar(seq_range_query(db.dialect), params))
