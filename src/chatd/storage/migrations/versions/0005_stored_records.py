"""Stored Avito records: each message's (`messages.body`), each chat's listing entry
(`chats.head`, `chats.last_message_text`), written by the writes, joined by the reads.

Existing rows are filled in here, in batches, with the same functions the writes use.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from chatd.core.clock import rfc3339
from chatd.storage.records import chat_head, message_body

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(value: Any) -> datetime:
    # SQLite stores integer microseconds (storage/tables.py's Timestamp).
    if isinstance(value, int):
        return _EPOCH + timedelta(microseconds=value)
    assert isinstance(value, datetime)
    return value


def upgrade() -> None:
    with op.batch_alter_table("messages") as table:
        table.add_column(sa.Column("body", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("chats") as table:
        table.add_column(sa.Column("head", sa.Text, nullable=False, server_default=""))
        table.add_column(sa.Column("last_message_text", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, chat_id, author_id, text, created_at FROM messages"
                " WHERE id > :after AND deleted_at IS NULL ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            break
        updates = [
            {"id": id_, "body": message_body(chat, author, text, rfc3339(_time(created_at)))}
            for id_, chat, author, text, created_at in rows
        ]
        conn.execute(sa.text("UPDATE messages SET body = :body WHERE id = :id"), updates)
        after = rows[-1][0]
    members: dict[int, list[int]] = {}
    for chat, user in conn.execute(sa.text("SELECT chat_id, user_id FROM chat_members")):
        members.setdefault(chat, []).append(user)
    chats = conn.execute(sa.text("SELECT id, name, created_at, last_message_at FROM chats")).all()
    updates = [
        {
            "id": id_,
            "head": chat_head(id_, name, members.get(id_, []), _time(created_at)),
            "last_text": rfc3339(_time(last_message_at)),
        }
        for id_, name, created_at, last_message_at in chats
    ]
    if updates:
        conn.execute(
            sa.text("UPDATE chats SET head = :head, last_message_text = :last_text WHERE id = :id"),
            updates,
        )


def downgrade() -> None:
    op.drop_column("chats", "last_message_text")
    op.drop_column("chats", "head")
    op.drop_column("messages", "body")
