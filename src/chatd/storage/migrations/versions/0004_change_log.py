"""The change log: every write's changes, by position, for real-time streams.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("pos", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("chat_id", Id),
        sa.Column("user_id", Id),
        sa.Column("message_id", Id),
        sa.Column("seq", sa.BigInteger),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("pos", name="pk_changes"),
    )
    op.create_index("ix_changes_chat_id_pos", "changes", ["chat_id", "pos"])
    op.create_index("ix_changes_user_id_pos", "changes", ["user_id", "pos"])
    op.create_table(
        "change_log",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("last_pos", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pruned_pos", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_change_log"),
        sa.CheckConstraint("id = 1", name="ck_change_log_one_row"),
    )
    op.execute("INSERT INTO change_log (id, last_pos, pruned_pos) VALUES (1, 0, 0)")
    with op.batch_alter_table("chat_members") as members:
        members.add_column(
            sa.Column("joined_pos", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_members") as members:
        members.drop_column("joined_pos")
    op.drop_table("change_log")
    op.drop_index("ix_changes_user_id_pos", table_name="changes")
    op.drop_index("ix_changes_chat_id_pos", table_name="changes")
    op.drop_table("changes")
