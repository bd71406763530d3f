"""What `chatd serve` logs: one line at start, one line per HTTP request, and no secret."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from chatd import __version__
from chatd.config import Settings
from chatd.storage import migrate
from tests.api.helpers import app_client
from tests.e2e.server import CHATD
from tests.pgcluster import PgCluster, free_port

pytestmark = pytest.mark.e2e

DB_PASSWORD = "db-password-never-logged"
BROKER_PASSWORD = "broker-password-never-logged"
AVITO_KEY = "avito-key-never-logged-0123456789"
SECRETS = (
    DB_PASSWORD,
    BROKER_PASSWORD,
    AVITO_KEY,
    "secret-token",
    "body-password-never-logged",
    "query-secret",
)
# Written by the root logger's format in cli.py: "<time> INFO chatd.access: GET /path 200 1.23ms"
ACCESS = re.compile(r"INFO chatd\.access: ([A-Z]+) (\S+) (\d{3}|-) (\d+\.\d\d)ms")
_databases = itertools.count(1)


def test_version_is_printed() -> None:
    result = subprocess.run([str(CHATD), "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"chatd {__version__}\n"


@pytest.fixture
def logged_server(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`chatd serve` at the info level on PostgreSQL, with passwords in both URLs (the test
    cluster trusts every local login, so any password works)."""
    name = f"logs_{next(_databases)}"
    pg_cluster.psql(f"CREATE DATABASE {name}")
    place = f"127.0.0.1:{pg_cluster.port}/{name}"
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    env |= {
        "CHATD_LOG_LEVEL": "info",
        "CHATD_ARGON2_PROFILE": "CHEAPEST",
        "CHATD_DATABASE_URL": f"postgresql://postgres:{DB_PASSWORD}@{place}",
        "CHATD_BROKER_URL": f"postgresql://postgres:{BROKER_PASSWORD}@{place}",
        "CHATD_AVITO_API": "key",
        "CHATD_AVITO_API_KEY": AVITO_KEY,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CHATD), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(f"{base}/api/v1/me", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
        yield base, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def _log_so_far(log_path: Path) -> str:
    time.sleep(0.2)  # each line is flushed as it is logged; the last may be a moment behind
    return log_path.read_text()


def test_start_line_and_access_lines_show_no_secret(logged_server: tuple[str, Path]) -> None:
    base, log_path = logged_server
    with httpx.Client(base_url=base) as http:
        alice = {"username": "alice", "password": "body-password-never-logged"}
        assert http.post("/api/v1/users", json=alice).status_code == 201
        token = http.post("/api/v1/auth/tokens", json=alice).json()["token"]
        me = http.get(
            "/api/v1/me?token=query-secret", headers={"Authorization": "Bearer secret-token"}
        )
        assert me.status_code == 401
        avito = {"Authorization": f"Bearer {AVITO_KEY}"}
        assert http.post("/users/add", json={"username": "bob"}, headers=avito).status_code == 201
        assert http.post("/users/add", json={"username": "carol"}).status_code == 401
        assert http.get("/no/such/path").status_code == 404
        assert http.get("/evil%0Aforged").status_code == 404  # a line break, percent-encoded
    # A stream works through the access log, and gets no line.
    with connect(base.replace("http://", "ws://") + "/api/v1/ws") as stream:
        stream.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(stream.recv(timeout=5))["type"] == "ready"
    text = _log_so_far(log_path)

    for secret in (*SECRETS, token):
        assert secret not in text, secret
    starts = [line for line in text.splitlines() if f"chatd {__version__} listening" in line]
    assert len(starts) == 1, text
    start = starts[0]
    assert f"http://127.0.0.1:{base.rpartition(':')[2]}" in start
    assert start.count("postgres:***@127.0.0.1") == 2, start  # the database and the broker
    assert "Avito API key" in start

    access = [ACCESS.search(line) for line in text.splitlines() if "chatd.access" in line]
    seen = {(m[1], m[2], m[3]) for m in access if m is not None}
    assert None not in access, text
    assert {
        ("POST", "/api/v1/users", "201"),
        ("POST", "/api/v1/auth/tokens", "201"),
        ("GET", "/api/v1/me", "401"),
        ("POST", "/users/add", "201"),
        ("POST", "/users/add", "401"),
        ("GET", "/no/such/path", "404"),
        ("GET", "/evil\\nforged", "404"),
    } <= seen, text
    assert not any(path == "/api/v1/ws" for _method, path, _status in seen)
    # The line break was written escaped: it could not start a line of its own.
    assert not any(line.startswith("forged") for line in text.splitlines())


async def test_the_log_level_decides_whether_requests_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # tests/e2e/server.py runs chatd at warning: no line per request floods those logs.
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    migrate.upgrade(url)
    async with app_client(Settings(database_url=url)) as client:
        with caplog.at_level(logging.WARNING):
            assert (await client.post("/users/add", json={"username": "a"})).status_code == 201
        assert not [r for r in caplog.records if r.name == "chatd.access"]
        with caplog.at_level(logging.INFO):
            assert (await client.get("/chats/get?user=1")).status_code == 405
    lines = [r.getMessage() for r in caplog.records if r.name == "chatd.access"]
    assert len(lines) == 1
    assert re.fullmatch(r"GET /chats/get 405 \d+\.\d\dms", lines[0]), lines
