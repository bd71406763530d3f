"""Message search (docs/decisions.md, "Search"): on SQLite an FTS5 index of `messages.text`
kept in step by triggers, on PostgreSQL a GIN index on the text's `simple` tsvector. Both are
written by the message's own INSERT or UPDATE, in its transaction: no write path changes.

The FTS5 table holds no copy of the text (`content='messages'`): it reads it from `messages`
by rowid. Existing messages are indexed here ('rebuild' reads them all).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration keeps the names it created (storage/search.py uses them).
FTS_TABLE = "messages_fts"
PG_INDEX = "ix_messages_search"

# Letters and digits of every script are words, case-folded (Cyrillic too); diacritics are
# kept, as PostgreSQL's `simple` configuration keeps them: `й` is not `и`.
_SQLITE_UP = (
    f"""CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
        text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 0'
    )""",
    f"""CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON messages BEGIN
        INSERT INTO {FTS_TABLE} (rowid, text) VALUES (new.id, new.text);
    END""",
    # An external-content index forgets a row by being told its old text.
    f"""CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON messages BEGIN
        INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    # Only a change of text: the edit's second UPDATE (its stored record) leaves the index be.
    f"""CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {FTS_TABLE} (rowid, text) VALUES (new.id, new.text);
    END""",
    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')",
)
_SQLITE_DOWN = (
    f"DROP TRIGGER {FTS_TABLE}_update",
    f"DROP TRIGGER {FTS_TABLE}_delete",
    f"DROP TRIGGER {FTS_TABLE}_insert",
    f"DROP TABLE {FTS_TABLE}",
)
# The same expression as storage/dialects.py's search: the planner uses the index only then.
_PG_UP = (
    f"CREATE INDEX {PG_INDEX} ON messages USING gin (to_tsvector('simple'::regconfig, text))",
)
_PG_DOWN = (f"DROP INDEX {PG_INDEX}",)


def _run(sqlite: Sequence[str], postgresql: Sequence[str]) -> None:
    for statement in sqlite if op.get_bind().dialect.name == "sqlite" else postgresql:
        op.execute(statement)


def upgrade() -> None:
    _run(_SQLITE_UP, _PG_UP)


def downgrade() -> None:
    _run(_SQLITE_DOWN, _PG_DOWN)
