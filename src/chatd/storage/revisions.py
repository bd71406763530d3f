"""Which schema revision a database is at, and which the code's migrations lead to (Alembic).

What /readyz compares (api/health.py): a server whose database is at another revision than its
code expects is not ready to serve.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from chatd.storage.database import Database
from chatd.storage.migrate import MIGRATIONS


@dataclass(frozen=True)
class Scripts:
    heads: frozenset[str]  # where `chatd migrate` takes a database
    known: frozenset[str]  # every revision the code has a script for


@functools.cache
def scripts() -> Scripts:
    """The migrations shipped with this code; read from disk once per process."""
    directory = ScriptDirectory(str(MIGRATIONS))
    known = frozenset(script.revision for script in directory.walk_revisions())
    return Scripts(frozenset(directory.get_heads()), known)


async def database_revisions(db: Database) -> frozenset[str]:
    """The revisions the database's schema is at (empty before its first migration); raises
    what the database's reads raise (core Unavailable when it cannot be reached)."""
    return await db.read(_current_heads)


def _current_heads(conn: sa.Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(conn).get_current_heads())
