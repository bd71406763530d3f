"""The real server (`chatd serve` as a subprocess) for the stream tests, on both databases.

The sweep that covers lost broker hints is slowed to 30 s here, so a test that gets its event
within a few seconds proves that the hint, not the sweep, delivered it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess
from tests.pgcluster import PgCluster

_databases = itertools.count(1)

STREAM_SETTINGS = {
    "CHATD_ARGON2_PROFILE": "CHEAPEST",
    "CHATD_RATE_LIMIT_SENDS": "",
    "CHATD_RATE_LIMIT_LOGINS": "",
    "CHATD_RATE_LIMIT_LOGIN_FAILURES": "",
    "CHATD_RATE_LIMIT_REGISTRATIONS": "",
    "CHATD_RATE_LIMIT_CHAT_CREATIONS": "",
    "CHATD_STREAM_SWEEP_SECONDS": "30",
    "CHATD_WS_AUTH_TIMEOUT": "1",
    "CHATD_WS_SEND_TIMEOUT": "1",
    "CHATD_WS_MAX_FRAME_BYTES": "4096",
    "CHATD_WS_PING_INTERVAL": "5",
    "CHATD_WS_PING_TIMEOUT": "5",
}


def new_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"stream_{next(_databases)}"
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


@contextmanager
def serving(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: str
) -> Iterator[ServerProcess]:
    """The real server on a new database of `kind`, with STREAM_SETTINGS and `overrides`."""
    url = new_database(kind, tmp_path, request)
    settings = {**STREAM_SETTINGS, **overrides}
    process = ServerProcess(url, tmp_path / "server.log", **settings).start()
    try:
        yield process
    finally:
        process.kill()


def server_pair(database_url: str, tmp_path: Path, **settings: str) -> list[ServerProcess]:
    """Two servers on one database; neither left running if the second does not start."""
    env = {**STREAM_SETTINGS, **settings}
    servers: list[ServerProcess] = []
    try:
        for i in (1, 2):
            servers.append(ServerProcess(database_url, tmp_path / f"server-{i}.log", **env).start())
    except BaseException:
        for server in servers:
            server.kill()
        raise
    return servers


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    with serving(request.param, tmp_path, request) as process:
        yield process


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client
