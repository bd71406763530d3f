"""Shared fixtures: real databases (a SQLite file, a PostgreSQL 15 cluster) and an app client.

The API suite is parametrized over both databases through the `database_url` fixture.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from chatd.app import create_app
from chatd.config import Settings
from chatd.storage import migrate
from chatd.storage.tables import metadata
from tests.pgcluster import PgCluster
from tests.redisserver import RedisServer

TEST_DATABASE = "chatd_test"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_migrated_url(pg_cluster: PgCluster) -> str:
    pg_cluster.psql(f"CREATE DATABASE {TEST_DATABASE}")
    url = pg_cluster.url(TEST_DATABASE)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "chatd.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
async def pg_admin() -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """One reusable connection per test database, opened on first use (a connect costs ~35 ms)."""
    connections: dict[str, asyncpg.Connection] = {}
    yield connections
    for conn in connections.values():
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Sync on purpose: migrations run their own event loop (see storage/migrate.py).
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "chatd.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_migrated_url")
    return url


@pytest.fixture
async def database_url(migrated_url: str, pg_admin: dict[str, asyncpg.Connection]) -> str:
    """A migrated, empty database: a fresh SQLite file, or the PostgreSQL test database emptied."""
    if migrated_url.startswith("postgresql"):
        admin = pg_admin.get(migrated_url) or await asyncpg.connect(migrated_url)
        pg_admin[migrated_url] = admin
        # The change log's one row is part of the schema (migration 0004): reset, not removed.
        tables = ", ".join(t.name for t in metadata.sorted_tables if t.name != "change_log")
        await admin.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        await admin.execute("UPDATE change_log SET last_pos = 0, pruned_pos = 0")
    return migrated_url


# Tests register many users from one address and hash many passwords: the cheapest argon2
# parameters and no rate limits, except where a test asks for them (tests/api/test_v1_limits.py).
TEST_SETTINGS = {
    "argon2_profile": "CHEAPEST",
    "rate_limit_sends": "",
    "rate_limit_logins": "",
    "rate_limit_login_failures": "",
    "rate_limit_registrations": "",
    "rate_limit_chat_creations": "",
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, **TEST_SETTINGS)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chatd") as http:
            yield http


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server of the test's own, stopped after it."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()
