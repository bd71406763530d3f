"""Applies the versioned schema migrations (Alembic) to a database URL."""

from __future__ import annotations

from pathlib import Path

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


def upgrade(database_url: str, revision: str = "head") -> None:
    """Brings the schema to `revision`. Runs its own event loop: call it from sync code."""
    # Parsing first rejects an unsupported URL with our message rather than Alembic's.
    ensure_sqlite_directory(driver_url(database_url, asynchronous=False))
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Takes the schema back to `revision` ("base" drops everything)."""
    command.downgrade(alembic_config(database_url), revision)
