"""Replies, reactions, mentions and last-seen times (issue 18; docs/decisions.md).

- `messages.reply_to_id`: the message a message answers, in the same chat. No foreign key: a
  message is never deleted but as a tombstone, or with its whole chat (the reply goes too).
- `message_reactions`: one row per (message, emoji, user), so a user's reaction is set or
  cleared idempotently and a message's totals are a GROUP BY over its primary key's prefix.
- `messages.mentions`: the ids a message mentions, in order ("3,7"; NULL: none), so every read
  of a message shows them without a second query; `message_mentions` is their index.
- `message_mentions`: one row per (message, mentioned member), with the message's chat and
  seq, so "unread messages mentioning me" is an index range: seq > the member's last_read_seq.
- `users.last_seen_at`: when the user's last stream closed (presence).

Every column is added, never a table rebuilt: SQLite adds a nullable column in place.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatd.storage.tables import Id, Timestamp

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as table:
        table.add_column(sa.Column("reply_to_id", Id))
        table.add_column(sa.Column("mentions", sa.Text))
    with op.batch_alter_table("users") as table:
        table.add_column(sa.Column("last_seen_at", Timestamp))
    op.create_table(
        "message_reactions",
        sa.Column(
            "message_id",
            Id,
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("emoji", sa.String(64), primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("chat_id", Id, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "message_mentions",
        sa.Column(
            "message_id",
            Id,
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("chat_id", Id, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Index("ix_message_mentions_user_id_chat_id_seq", "user_id", "chat_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("message_mentions")
    op.drop_table("message_reactions")
    # In place (SQLite 3.35+ drops a column), not by batch: a rebuilt `messages` table would
    # lose the search index's triggers (migration 0007).
    op.drop_column("users", "last_seen_at")
    op.drop_column("messages", "mentions")
    op.drop_column("messages", "reply_to_id")
