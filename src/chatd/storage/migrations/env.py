"""Alembic environment: SQLite through the standard library driver, PostgreSQL over asyncpg."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from chatd.storage import locks
from chatd.storage.database import driver_url
from chatd.storage.tables import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        # Before Alembic reads the schema's version: replicas starting together on one empty
        # database would otherwise all create it, and all but one fail.
        locks.wait_for(connection, locks.MIGRATIONS)
        context.run_migrations()


async def _run_async(url: sa.URL) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported")
    url = driver_url(config.get_main_option("sqlalchemy.url") or "", asynchronous=True)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        asyncio.run(_run_async(url))


main()
