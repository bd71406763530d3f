"""The migrations build exactly the schema that storage/tables.py describes, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from chatd.storage import migrate
from chatd.storage.database import driver_url
from chatd.storage.tables import metadata
from tests.pgcluster import PgCluster


def _compare(conn: sa.Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _differences(url: str) -> list[object]:
    async def compare() -> list[object]:
        engine = create_async_engine(driver_url(url, asynchronous=True))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_compare)
        finally:
            await engine.dispose()

    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            found = _compare(conn)
        engine.dispose()
        return found
    return asyncio.run(compare())


def test_sqlite_schema_matches_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    migrate.upgrade(url)
    assert _differences(url) == []


def test_postgresql_schema_matches_the_tables(pg_cluster: PgCluster) -> None:
    pg_cluster.psql("CREATE DATABASE migrations_check")
    url = pg_cluster.url("migrations_check")
    migrate.upgrade(url)
    assert _differences(url) == []


def test_migrations_downgrade_to_nothing_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    migrate.upgrade(url)
    assert _differences(url) == []
