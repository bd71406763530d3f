"""The migrations build exactly the schema that storage/tables.py describes, on both databases,
and upgrade a database in use without losing its rows or handing out an id twice."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from chatd.storage import migrate
from chatd.storage.database import driver_url
from chatd.storage.search import OUTSIDE_TABLES, PG_INDEX
from chatd.storage.tables import (
    auth_tokens,
    chat_members,
    chats,
    idempotency_keys,
    messages,
    metadata,
    users,
)
from tests.pgcluster import PgCluster

T = TypeVar("T")

_databases = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatd.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"migrations_{next(_databases)}"
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


def _on(url: str, work: Callable[[sa.Connection], T]) -> T:
    """Runs `work` in one transaction on the database at `url`, SQLite or PostgreSQL."""

    async def run() -> T:
        engine = create_async_engine(driver_url(url, asynchronous=True))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                return work(conn)
        finally:
            engine.dispose()
    return asyncio.run(run())


def _autoincrement(conn: sa.Connection, table: str) -> bool:
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    return "AUTOINCREMENT" in sql.upper()


def _described(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether tables.py can describe it: not the search index's FTS5 table, nor PostgreSQL's
    expression index (storage/search.py)."""
    if type_ == "table":
        return name not in OUTSIDE_TABLES
    return not (type_ == "index" and name == PG_INDEX)


def _compare(conn: sa.Connection) -> list[object]:
    opts = {"compare_type": True, "include_name": _described}
    context = MigrationContext.configure(conn, opts=opts)
    found: list[object] = list(compare_metadata(context, metadata))
    if conn.dialect.name == "sqlite":
        # Alembic does not compare it, and without it SQLite reuses the highest deleted id.
        for table in metadata.sorted_tables:
            declared = bool(table.dialect_options["sqlite"]["autoincrement"])
            if _autoincrement(conn, table.name) != declared:
                found.append(("sqlite_autoincrement", table.name, declared))
    return found


def _differences(url: str) -> list[object]:
    return _on(url, _compare)


def test_schema_matches_the_tables(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert _differences(empty_url) == []


def test_migrations_downgrade_to_nothing_and_back(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    migrate.downgrade(empty_url, "base")
    migrate.upgrade(empty_url)
    assert _differences(empty_url) == []


# A database in use: rows written at 0002, the revision that dropped AUTOINCREMENT on SQLite.

NOW = datetime(2026, 11, 25, 12, 0, 40, 999863, tzinfo=UTC)


def _insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
    return int(conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one())


def _fill(conn: sa.Connection) -> None:
    """Three users, three chats with members and messages, a token, an idempotency key."""
    people = [
        _insert(conn, users, username=name, username_key=name, created_at=NOW)
        for name in ("alice", "bob", "carol")
    ]
    for name in ("first", "second", "third"):
        chat = _insert(conn, chats, name=name, created_at=NOW, last_message_at=NOW, last_seq=2)
        for user in people[:2]:
            conn.execute(chat_members.insert().values(chat_id=chat, user_id=user, created_at=NOW))
        for seq, author in enumerate(people[:2], start=1):
            values = {"chat_id": chat, "seq": seq, "author_id": author, "created_at": NOW}
            _insert(conn, messages, text=f"{name} {seq} ✓", **values)
    token = {"token_hash": "0" * 64, "created_at": NOW, "expires_at": NOW}
    _insert(conn, auth_tokens, user_id=people[0], **token)
    key = {"key": "k", "fingerprint": "f" * 64, "status_code": 201, "body": b"{}"}
    conn.execute(idempotency_keys.insert().values(user_id=people[0], created_at=NOW, **key))


# The tables 0002 left, in the shape tables.py still gives them.
TABLES_AT_0002 = (users, auth_tokens, chats, chat_members, messages, idempotency_keys)


# Columns later migrations added to those tables: not there at 0002.
ADDED_AFTER_0002 = {
    "chat_members": {"joined_pos"},
    "chats": {"head", "last_message_text", "from_avito"},
    "messages": {"body", "reply_to_id", "mentions"},
    "users": {"last_seen_at"},
}


def _rows(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    for table in TABLES_AT_0002:
        later = ADDED_AFTER_0002.get(table.name, set())
        columns = [column for column in table.c if column.name not in later]
        query = sa.select(*columns).order_by(*table.primary_key)
        found[table.name] = [tuple(row) for row in conn.execute(query)]
    return found


def _highest(conn: sa.Connection) -> dict[str, int]:
    tables = (users, chats, messages, auth_tokens)
    return {t.name: conn.execute(sa.select(sa.func.max(t.c.id))).scalar_one() for t in tables}


def _delete_the_newest(conn: sa.Connection, newest: dict[str, int]) -> None:
    """The newest chat with its members and messages, the newest user (in no chat), the token."""
    chat = newest["chats"]
    conn.execute(messages.delete().where(messages.c.chat_id == chat))
    conn.execute(chat_members.delete().where(chat_members.c.chat_id == chat))
    conn.execute(chats.delete().where(chats.c.id == chat))
    conn.execute(users.delete().where(users.c.id == newest["users"]))
    conn.execute(auth_tokens.delete().where(auth_tokens.c.id == newest["auth_tokens"]))


def _add_one_of_each(conn: sa.Connection) -> dict[str, int]:
    user = _insert(conn, users, username="dave", username_key="dave", created_at=NOW)
    chat = _insert(conn, chats, name="fourth", created_at=NOW, last_message_at=NOW)
    first_chat = conn.execute(sa.select(sa.func.min(chats.c.id))).scalar_one()
    message = {"chat_id": first_chat, "seq": 3, "author_id": user, "created_at": NOW}
    token = {"token_hash": "1" * 64, "created_at": NOW, "expires_at": NOW}
    return {
        "users": user,
        "chats": chat,
        "messages": _insert(conn, messages, text="new", **message),
        "auth_tokens": _insert(conn, auth_tokens, user_id=user, **token),
    }


def test_upgrade_from_0002_keeps_the_rows_and_never_reuses_an_id(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0002")
    _on(empty_url, _fill)
    before = _on(empty_url, _rows)
    newest = _on(empty_url, _highest)

    migrate.upgrade(empty_url)

    assert _on(empty_url, _rows) == before
    _on(empty_url, lambda conn: _delete_the_newest(conn, newest))
    added = _on(empty_url, _add_one_of_each)
    assert {name: added[name] > newest[name] for name in newest} == dict.fromkeys(newest, True)
    assert _differences(empty_url) == []


def test_downgrade_to_0002_keeps_the_rows(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    _on(empty_url, _fill)
    before = _on(empty_url, _rows)

    migrate.downgrade(empty_url, "0002")
    assert _on(empty_url, _rows) == before
    migrate.upgrade(empty_url)
    assert _on(empty_url, _rows) == before
    assert _differences(empty_url) == []


def _records(conn: sa.Connection) -> tuple[list[Any], list[Any]]:
    """The stored Avito records (storage/records.py), whole, as the listings join them."""
    found_chats = [
        orjson.loads(f'{head},"last_message_at":"{last}"}}')
        for head, last in conn.execute(
            sa.select(chats.c.head, chats.c.last_message_text).order_by(chats.c.id)
        )
    ]
    found_messages = [
        orjson.loads(f'{{"id":{id_},{body}')
        for id_, body in conn.execute(
            sa.select(messages.c.id, messages.c.body).order_by(messages.c.id)
        )
    ]
    return found_chats, found_messages


def test_upgrade_from_0004_fills_the_stored_records(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0004")
    _on(empty_url, _fill)

    migrate.upgrade(empty_url)

    found_chats, found_messages = _on(empty_url, _records)
    at = "2026-11-25T12:00:40.999863Z"
    assert [
        (c["name"], c["users"], c["created_at"], c["last_message_at"]) for c in found_chats
    ] == [(name, [1, 2], at, at) for name in ("first", "second", "third")]
    assert [(m["chat"], m["author"], m["text"], m["created_at"]) for m in found_messages] == [
        (chat, author, f"{name} {author} ✓", at)
        for chat, name in enumerate(("first", "second", "third"), start=1)
        for author in (1, 2)
    ]


def _chats_of_both_apis(conn: sa.Connection) -> None:
    """At 0005: a chat made by /chats/add (no owner), a v1 group (owned), a private chat."""
    alice, bob = (
        _insert(conn, users, username=name, username_key=name, created_at=NOW)
        for name in ("alice", "bob")
    )
    times = {"created_at": NOW, "last_message_at": NOW}
    _insert(conn, chats, name="from avito", head="avito head", **times)
    _insert(conn, chats, name="a group", owner_id=alice, head="group head", **times)
    pair = {"is_private": True, "direct_low": alice, "direct_high": bob}
    _insert(conn, chats, name=None, head="private head", **pair, **times)


def _named(conn: sa.Connection) -> list[tuple[Any, ...]]:
    query = sa.select(chats.c.id, chats.c.name, chats.c.owner_id, chats.c.head).order_by("id")
    return [tuple(row) for row in conn.execute(query)]


def _try_chat(name: str, *, from_avito: bool) -> Callable[[sa.Connection], bool]:
    """Whether a chat of this name can be added (rolled back either way)."""

    def attempt(conn: sa.Connection) -> bool:
        values = {"created_at": NOW, "last_message_at": NOW, "from_avito": from_avito}
        savepoint = conn.begin_nested()
        try:
            _insert(conn, chats, name=name, **values)
        except sa.exc.IntegrityError:
            return False
        finally:
            savepoint.rollback()
        return True

    return attempt


def test_upgrade_from_0005_keeps_the_chats_and_only_avito_names_unique(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0005")
    _on(empty_url, _chats_of_both_apis)
    before = _on(empty_url, _named)

    migrate.upgrade(empty_url)

    assert _on(empty_url, _named) == before
    flags = _on(empty_url, lambda c: list(c.execute(sa.select(chats.c.from_avito).order_by("id"))))
    assert [flag for (flag,) in flags] == [True, False, False]
    # The chat made through /chats/add keeps its name to itself among Avito chats...
    assert _on(empty_url, _try_chat("from avito", from_avito=True)) is False
    # ...while a v1 group neither holds its name nor is refused one.
    assert _on(empty_url, _try_chat("a group", from_avito=True)) is True
    assert _on(empty_url, _try_chat("from avito", from_avito=False)) is True
    assert _differences(empty_url) == []


def test_downgrade_below_0006_refuses_while_chats_share_a_name(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    times = {"created_at": NOW, "last_message_at": NOW}
    _on(empty_url, lambda c: [_insert(c, chats, name="twin", **times) for _ in range(2)])
    with pytest.raises(RuntimeError, match="share a name"):
        migrate.downgrade(empty_url, "0005")
    assert len(_on(empty_url, _named)) == 2
