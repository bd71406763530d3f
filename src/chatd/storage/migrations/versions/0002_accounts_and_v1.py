"""Accounts, tokens, private chats, read markers, edits and tombstones, idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("password_hash", sa.Text))
        users.add_column(sa.Column("email", sa.String(254)))
        users.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="user"))
        users.add_column(sa.Column("blocked_at", Timestamp))
        users.create_check_constraint("ck_users_role", "role IN ('user', 'moderator')")

    op.create_table(
        "auth_tokens",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_auth_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_auth_tokens_user_id_users", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_auth_tokens_user_id", "auth_tokens", ["user_id"])

    with op.batch_alter_table("chats") as chats:
        chats.alter_column("name", existing_type=sa.String(128), nullable=True)
        chats.add_column(sa.Column("owner_id", Id))
        chats.add_column(
            sa.Column("is_private", sa.Boolean, nullable=False, server_default=sa.false())
        )
        chats.add_column(sa.Column("direct_low", Id))
        chats.add_column(sa.Column("direct_high", Id))
        chats.create_foreign_key(
            "fk_chats_owner_id_users", "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )
        chats.create_foreign_key(
            "fk_chats_direct_low_users", "users", ["direct_low"], ["id"], ondelete="CASCADE"
        )
        chats.create_foreign_key(
            "fk_chats_direct_high_users", "users", ["direct_high"], ["id"], ondelete="CASCADE"
        )
        chats.create_unique_constraint(
            "uq_chats_direct_low_direct_high", ["direct_low", "direct_high"]
        )

    op.create_index("ix_chats_last_message_at_id", "chats", ["last_message_at", "id"])

    with op.batch_alter_table("chat_members") as members:
        members.add_column(
            sa.Column("last_read_seq", sa.BigInteger, nullable=False, server_default="0")
        )

    with op.batch_alter_table("messages") as messages:
        messages.add_column(sa.Column("edited_at", Timestamp))
        messages.add_column(sa.Column("deleted_at", Timestamp))

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("body", sa.LargeBinary),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_idempotency_keys_user_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("deleted_at")
        messages.drop_column("edited_at")
    with op.batch_alter_table("chat_members") as members:
        members.drop_column("last_read_seq")
    op.drop_index("ix_chats_last_message_at_id", table_name="chats")
    with op.batch_alter_table("chats") as chats:
        chats.drop_constraint("uq_chats_direct_low_direct_high", type_="unique")
        chats.drop_constraint("fk_chats_direct_high_users", type_="foreignkey")
        chats.drop_constraint("fk_chats_direct_low_users", type_="foreignkey")
        chats.drop_constraint("fk_chats_owner_id_users", type_="foreignkey")
        chats.drop_column("direct_high")
        chats.drop_column("direct_low")
        chats.drop_column("is_private")
        chats.drop_column("owner_id")
        chats.alter_column("name", existing_type=sa.String(128), nullable=False)
    op.drop_index("ix_auth_tokens_user_id", table_name="auth_tokens")
    op.drop_table("auth_tokens")
    with op.batch_alter_table("users") as users:
        users.drop_constraint("ck_users_role", type_="check")
        users.drop_column("blocked_at")
        users.drop_column("role")
        users.drop_column("email")
        users.drop_column("password_hash")
