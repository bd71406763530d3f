"""Acknowledged writes are durable: a crash of PostgreSQL itself (kill -9 of the postmaster)
under load loses none of them, and SQLite runs with its durable settings.

The session's test cluster runs with fsync and synchronous_commit off (tests/pgcluster.py
FAST_UNSAFE): there no test can tell a durable commit from a lost one. These tests start their
own cluster with PostgreSQL's durable defaults (fsync, synchronous_commit, full_page_writes on),
and prove they can fail on one that acknowledges commits before flushing them.
(tests/e2e/test_server.py kills chatd itself; here the database dies.)
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from chatd.config import Settings
from chatd.storage.database import open_database
from chatd.storage.sqlite import SqliteDatabase
from tests.e2e.server import ServerProcess
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.e2e

AVITO_CLIENTS = 16
V1_CLIENTS = 4  # half of them send with an Idempotency-Key: the one-transaction write path
KILL_AFTER = 300  # acknowledged sends before the postmaster is killed
AFTER_RESTART = 100  # acknowledged sends after the restart: chatd recovered by itself
SERVER_ENV = {"CHATD_ARGON2_PROFILE": "CHEAPEST", "CHATD_RATE_LIMIT_SENDS": ""}
_databases = itertools.count(1)


@pytest.fixture(scope="module")
def durable_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster(settings=()).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Sender:
    """One way to send a message, and into which chat."""

    chat: int
    path: str
    headers: dict[str, str]
    author: int | None = None  # the Avito API names the author in the body
    idempotent: bool = False

    def request(self, text: str) -> tuple[dict[str, object], dict[str, str]]:
        body: dict[str, object] = {"text": text}
        if self.author is not None:
            body |= {"chat": self.chat, "author": self.author}
        headers = dict(self.headers)
        if self.idempotent:
            headers["Idempotency-Key"] = text.replace(" ", "-")
        return body, headers


@dataclass
class Crash:
    # By text (each send's is unique): a lost message's id may be given again after the crash.
    acknowledged: dict[str, int] = field(default_factory=dict)  # text -> message id
    after_restart: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # status codes, or the error's name
    restarted_in: float = 0.0


def _seed(url: str) -> list[Sender]:
    with httpx.Client(base_url=url) as http:
        alice = http.post("/users/add", json={"username": "alice"}).json()["id"]
        bob = http.post("/users/add", json={"username": "bob"}).json()["id"]
        chat = http.post("/chats/add", json={"name": "avito", "users": [alice, bob]}).json()["id"]
        account = {"username": "carol", "password": "carol's password"}
        assert http.post("/api/v1/users", json=account).status_code == 201
        token = http.post("/api/v1/auth/tokens", json=account).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        v1_chat = http.post("/api/v1/chats", json={"name": "v1"}, headers=auth).json()["id"]
    avito = Sender(chat, "/messages/add", {}, author=alice)
    v1 = [
        Sender(v1_chat, f"/api/v1/chats/{v1_chat}/messages", auth, idempotent=i % 2 == 1)
        for i in range(V1_CLIENTS)
    ]
    return [avito] * AVITO_CLIENTS + v1


async def _crash_under_load(server: ServerProcess, cluster: PgCluster) -> Crash:
    """Clients send as fast as they can; right after the KILL_AFTER-th acknowledged send, with
    sends in flight, the postmaster is killed with SIGKILL and started again; the clients go on
    until AFTER_RESTART more sends are acknowledged."""
    senders = _seed(server.url)
    crash = Crash()
    killed = asyncio.Event()
    recovered = asyncio.Event()
    restarted = False

    async def restart() -> None:
        nonlocal restarted
        started = time.monotonic()
        await asyncio.sleep(0.5)  # clients meet the outage for a while
        await asyncio.to_thread(cluster.start_server)
        crash.restarted_in = time.monotonic() - started
        restarted = True

    async def client(c: int, sender: Sender, http: httpx.AsyncClient) -> None:
        for i in itertools.count():
            text = f"client {c} message {i}"
            body, headers = sender.request(text)
            try:
                response = await http.post(sender.path, json=body, headers=headers)
            except httpx.TransportError as exc:
                crash.answers[type(exc).__name__] += 1  # its fate is unknown: not acknowledged
                await asyncio.sleep(0.05)
                continue
            crash.answers[str(response.status_code)] += 1
            if response.status_code != 201:
                await asyncio.sleep(0.05)
                continue
            crash.acknowledged[text] = int(response.json()["id"])
            if restarted:
                crash.after_restart += 1
                if crash.after_restart >= AFTER_RESTART:
                    recovered.set()
                    return
            elif len(crash.acknowledged) >= KILL_AFTER and not killed.is_set():
                cluster.kill_postmaster()  # before any other client runs: sends in flight
                killed.set()
                tasks.append(asyncio.ensure_future(restart()))
            if recovered.is_set():
                return

    limits = httpx.Limits(max_connections=len(senders))
    async with httpx.AsyncClient(base_url=server.url, timeout=10, limits=limits) as http:
        tasks = [asyncio.ensure_future(client(c, s, http)) for c, s in enumerate(senders)]
        try:
            await asyncio.wait_for(recovered.wait(), timeout=60)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return crash


async def _stored(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch("SELECT id, chat_id, seq, text FROM messages")
        return rows
    finally:
        await conn.close()


def _crash_and_count(cluster: PgCluster, tmp_path: Path) -> tuple[Crash, dict[str, int], str]:
    """Runs the crash under load; returns it, the acknowledged sends not found exactly as sent
    (by text), and a summary of the figures."""
    name = f"durability_{next(_databases)}"
    cluster.psql(f"CREATE DATABASE {name}")
    server = ServerProcess(cluster.url(name), tmp_path / "server.log", **SERVER_ENV).start()
    try:
        crash = asyncio.run(_crash_under_load(server, cluster))
    finally:
        server.kill()
    rows = asyncio.run(_stored(cluster.url(name)))
    stored = {row["text"]: row["id"] for row in rows}
    assert len(stored) == len(rows), "a send was stored twice"
    for chat in {row["chat_id"] for row in rows}:
        seqs = sorted(row["seq"] for row in rows if row["chat_id"] == chat)
        assert seqs == list(range(1, len(seqs) + 1)), f"chat {chat}: seqs with gaps"
    lost = {t: i for t, i in crash.acknowledged.items() if stored.get(t) != i}
    summary = (
        f"{len(crash.acknowledged)} acknowledged ({crash.after_restart} after the restart), "
        f"{len(rows)} stored, {len(lost)} lost; answers {dict(crash.answers)}; "
        f"PostgreSQL back {crash.restarted_in:.2f} s after the kill"
    )
    print(summary)
    return crash, lost, summary


def test_every_acknowledged_message_survives_a_postgresql_crash_exactly_once(
    durable_cluster: PgCluster, tmp_path: Path
) -> None:
    crash, lost, summary = _crash_and_count(durable_cluster, tmp_path)
    assert lost == {}, summary
    assert crash.answers["503"] > 0, f"no request met the outage: {summary}"


def test_the_crash_test_detects_commits_acknowledged_before_their_flush(tmp_path: Path) -> None:
    """The negative control: with synchronous_commit off PostgreSQL acknowledges a commit
    before its WAL is written (the WAL writer does that within wal_writer_delay, 200 ms), and a
    kill -9 loses the last ones: the check above must see that (2-10 lost in each of 11 runs)."""
    cluster = PgCluster(settings=("synchronous_commit=off",)).start()
    try:
        _crash, lost, summary = _crash_and_count(cluster, tmp_path)
    finally:
        cluster.stop()
    assert lost, f"no loss detected without synchronous_commit: {summary}"


async def _writer_pragma(db: SqliteDatabase, pragma: str) -> object:
    def read(conn: sa.Connection) -> object:
        return conn.exec_driver_sql(f"PRAGMA {pragma}").scalar()

    return await db.write(read)


def test_the_running_servers_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    server = ServerProcess(f"sqlite:///{path}", tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.url) as http:
            assert http.post("/users/add", json={"username": "x"}).status_code == 201
        # The journal mode is the file's own: what this connection reads, the server set.
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        server.kill()


@pytest.mark.parametrize(("configured", "expected"), [(None, 2), ("NORMAL", 1)])
async def test_the_sqlite_writer_commits_with_the_configured_synchronous(
    tmp_path: Path, configured: str | None, expected: int
) -> None:
    """`synchronous` is a connection's setting: read on the writer connection the server's
    Database commits on, built from the settings as `chatd serve` builds it. FULL (2) by default:
    a commit is on disk before its write is acknowledged."""
    environ = {"CHATD_DATABASE_URL": f"sqlite:///{tmp_path / 'chatd.db'}"}
    if configured is not None:
        environ["CHATD_SQLITE_SYNCHRONOUS"] = configured
    db = open_database(Settings.from_env(environ))
    assert isinstance(db, SqliteDatabase)
    try:
        assert await _writer_pragma(db, "synchronous") == expected
        assert await _writer_pragma(db, "journal_mode") == "wal"
    finally:
        await db.dispose()
