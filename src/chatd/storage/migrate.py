"""Applies the versioned schema migrations (Alembic) to a database URL."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from chatd.storage.database import driver_url, ensure_sqlite_directory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's ini interpolation treats % specially; passwords may contain it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class NotWritable(Exception):
    """The SQLite database file, or the directory it lives in, cannot be written."""


def upgrade(database_url: str, revision: str = "head") -> None:
    """Brings the schema to `revision`. Runs its own event loop: call it from sync code.
    Raises NotWritable for a SQLite file that could not be written.

    On PostgreSQL it holds an advisory lock while it reads and changes the schema
    (storage/locks.py, taken in migrations/env.py): replicas that start together migrate one
    after the other, and every one after the first finds the schema at head."""
    # Parsing first rejects an unsupported URL with our message rather than Alembic's.
    url = driver_url(database_url, asynchronous=False)
    check_sqlite_writable(url)
    command.upgrade(alembic_config(database_url), revision)


def check_sqlite_writable(url: sa.URL) -> None:
    """Creates a SQLite database's directory, and checks that it and the file can be written.
    SQLite opens a file it may not write read-only without a word, and fails at the first
    write: a server would start and answer every write with 500. The directory must be
    writable too: the -wal and -shm files live beside the database."""
    try:
        ensure_sqlite_directory(url)
    except OSError as exc:
        message = f"cannot create the data directory {exc.filename}: {exc.strerror}"
        raise NotWritable(message) from exc
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database or "")
    # access() also says no for root in a directory marked immutable (chattr +i) or read-only.
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise NotWritable(f"the data directory {path.parent.resolve()} is not writable")
    try:
        os.close(os.open(path, os.O_RDWR))
    except FileNotFoundError:
        return  # SQLite creates it
    except OSError as exc:
        raise NotWritable(
            f"the SQLite database {path.resolve()} cannot be written ({exc.strerror})"
        ) from exc


def downgrade(database_url: str, revision: str) -> None:
    """Takes the schema back to `revision` ("base" drops everything)."""
    command.downgrade(alembic_config(database_url), revision)
