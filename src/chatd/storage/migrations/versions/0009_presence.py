"""Presence: which server process holds a stream of which user (issue 18; docs/decisions.md).

- `presence_instances`: one row per running server process, renewed every third of
  CHATD_PRESENCE_TTL_SECONDS; a process that stops renewing (killed) expires with its users.
- `presence_sockets`: one row per (user, process) with at least one open stream.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatd.storage.tables import Id, Timestamp

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presence_instances",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("seen_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
    )
    op.create_table(
        "presence_sockets",
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("instance_id", sa.String(32), primary_key=True),
        sa.Index("ix_presence_sockets_instance_id", "instance_id"),
    )


def downgrade() -> None:
    op.drop_table("presence_sockets")
    op.drop_table("presence_instances")
