from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess
from tests.pgcluster import PgCluster

_databases = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def server_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database the server will migrate itself: a new file, or a new PG database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"e2e_{next(_databases)}"
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


@pytest.fixture
def server(server_database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(server_database_url, tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.kill()
