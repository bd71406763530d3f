"""SQLite: users and chats get AUTOINCREMENT back, so a deleted row's id is never reused.

0002 changed users and chats in ways SQLite cannot ALTER, so Alembic rebuilt both tables, and
the rebuilt tables lost AUTOINCREMENT: SQLite then gave the next row max(id) + 1, the id of a
just-deleted newest chat or user. (0002 only added columns to messages and chat_members, which
SQLite does in place: they kept theirs.) Rebuilt here with it; copying the rows with their ids
sets sqlite_sequence to the highest id in use. An id deleted above it while 0002 was current
is not known anywhere and cannot be retired.

PostgreSQL's id sequences (bigserial) never go back: nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "chats")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # A rebuild drops the old table. With foreign keys enforced, that drop deletes every row
    # that refers to it by cascade (members, tokens, keys): refuse rather than lose them.
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run this migration with PRAGMA foreign_keys=OFF")
    for name in TABLES:
        # Reflected, so every column, constraint and index is kept as the database has it.
        with op.batch_alter_table(
            name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
