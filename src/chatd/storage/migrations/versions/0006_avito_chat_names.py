"""Chat names clash only among chats made through the Avito API (docs/decisions.md, "Chat
names"): `chats.from_avito`, and a partial unique index on the name of those chats in place of
the unique constraint on every chat's name.

The chats already made through /chats/add are those without an owner that are not private: a
v1 group always has one (it passes on when the owner leaves, and users are never deleted). They
keep their names unique, so the new index builds on the names the old constraint kept unique.

SQLite cannot drop a table's constraint in place: the table is rebuilt, as 0003 did, with
AUTOINCREMENT declared again (a rebuild from the reflected table would lose it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_chats_avito_name"
_chats = sa.table(
    "chats",
    sa.column("name", sa.String),
    sa.column("owner_id", sa.Integer),
    sa.column("is_private", sa.Boolean),
    sa.column("from_avito", sa.Boolean),
)


def _refuse_cascades() -> None:
    bind = op.get_bind()
    # A rebuild drops the old table: with foreign keys enforced, SQLite would delete every
    # member and message of every chat by cascade. Refuse rather than lose them.
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run this migration with PRAGMA foreign_keys=OFF")


def upgrade() -> None:
    _refuse_cascades()
    with op.batch_alter_table("chats", table_kwargs={"sqlite_autoincrement": True}) as chats:
        chats.add_column(
            sa.Column("from_avito", sa.Boolean, nullable=False, server_default=sa.false())
        )
        chats.drop_constraint("uq_chats_name", type_="unique")
    op.execute(
        _chats.update()
        .where(_chats.c.owner_id.is_(None), _chats.c.is_private == sa.false())
        .values(from_avito=True)
    )
    where = sa.text("from_avito")
    op.create_index(
        INDEX, "chats", ["name"], unique=True, sqlite_where=where, postgresql_where=where
    )


def downgrade() -> None:
    _refuse_cascades()
    # The old rule needs every name unique: refuse rather than rename people's groups.
    shared = op.get_bind().execute(
        sa.select(sa.func.count())
        .select_from(_chats)
        .where(_chats.c.name.is_not(None))
        .group_by(_chats.c.name)
        .having(sa.func.count() > 1)
    )
    if shared.first() is not None:
        raise RuntimeError(
            "chats share a name, which revision 0005 forbids: rename them before downgrading"
        )
    op.drop_index(INDEX, table_name="chats")
    with op.batch_alter_table("chats", table_kwargs={"sqlite_autoincrement": True}) as chats:
        chats.drop_column("from_avito")
        chats.create_unique_constraint("uq_chats_name", ["name"])
