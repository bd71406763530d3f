"""The real-time stream under its dependencies' faults: PostgreSQL restarted under the
postgres:// broker, Redis killed, paused (SIGSTOP) or down when chatd starts. Two chatd
instances share one database; a stream held on one hears what is written through the other.

Each test asserts what a user and an operator see:
- no write waits on the broker (each answers in normal time while the broker is down or hung);
- live latency across instances comes back under 1 s within 15 s of recovery, by itself;
- a client that resumes gets every event exactly once;
- the log says one line per outage and one per recovery, with no traceback per write.

The sweep is 3 s here: what arrives within 1 s after recovery came by a broker hint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.api.v1_helpers import User, create_chat, ok, sign_up_many
from tests.e2e.server import ServerProcess
from tests.pgcluster import PgCluster
from tests.realtime.conftest import STREAM_SETTINGS
from tests.realtime.streams import Stream
from tests.redisserver import RedisServer

SWEEP = 3.0
RECOVERY = 15.0  # seconds within which live delivery must be back
LIVE = 1.0  # what live delivery means here
WRITE = 0.5  # a write that takes longer than this waited on something it should not


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PgCluster]:
    """A cluster of this module's alone: the tests restart it. Commits are written before they
    are acknowledged (an immediate stop must not lose them); fsync is off: only the machine's
    crash would lose what the kernel holds, and the tests do not crash the machine."""
    cluster = PgCluster(settings=("fsync=off", "full_page_writes=off")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


_names = iter(range(1, 10_000))


def _database(kind: str, cluster: PgCluster, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    name = f"faults_{next(_names)}"
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


def _start(url: str, tmp_path: Path, name: str, **env: str) -> ServerProcess:
    settings = {**STREAM_SETTINGS, "CHATD_STREAM_SWEEP_SECONDS": str(SWEEP), **env}
    return ServerProcess(url, tmp_path / f"{name}.log", **settings).start()


class Unavailable(Exception):
    """chatd answered 503: its database cannot be reached."""


class Reader:
    """A client that follows bob's stream on one instance and resumes, from the last position
    it processed, whenever the connection drops (as every client should)."""

    def __init__(self, base: str, user: User) -> None:
        self.base = base
        self.user = user
        self.pos: int | None = None
        self.frames: list[dict[str, Any]] = []
        self.stream: Stream | None = None

    async def connect(self) -> None:
        self.stream = await Stream.open(self.base, self.user, pos=self.pos)
        self.pos = self.stream.ready["pos"]

    async def message(self, wait: float) -> dict[str, Any]:
        """The next message.created frame, reconnecting (and resuming) across drops."""
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            try:
                if self.stream is None:
                    await self.connect()
                assert self.stream is not None
                frame = await self.stream.next(wait=left)
            except (websockets.ConnectionClosed, OSError):
                self.stream = None
                await asyncio.sleep(0.2)
                continue
            except TimeoutError:
                raise
            self.frames.append(frame)
            self.pos = frame["pos"]
            if frame["type"] == "message.created":
                return frame

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()


class Pair:
    """alice writes through `writer`; bob reads on `reader`'s instance."""

    def __init__(self, writer: ServerProcess, reader_server: ServerProcess) -> None:
        self.writer = writer
        self.reader_server = reader_server
        self.http = httpx.AsyncClient(base_url=writer.url, timeout=10)
        self.sent: list[int] = []

    async def setup(self, names: str) -> None:
        self.alice, self.bob = await sign_up_many(self.http, f"{names}a", f"{names}b")
        self.chat = (await create_chat(self.http, self.alice, names, [self.bob]))["id"]
        self.reader = Reader(self.reader_server.url, self.bob)
        await self.reader.connect()

    async def send(self, text: str) -> tuple[int, float]:
        """Sends through the writer; the message's id and how long the write took."""
        started = time.monotonic()
        response = await self.http.post(
            f"/api/v1/chats/{self.chat}/messages", json={"text": text}, headers=self.alice.auth
        )
        took = time.monotonic() - started
        if response.status_code == 503:  # the database is away: said so, nothing written
            raise Unavailable(response.text)
        sent = ok(response, 201)["id"]
        self.sent.append(sent)
        return sent, took

    async def latency(self, text: str, wait: float = SWEEP + 5) -> float:
        started = time.monotonic()
        sent, _took = await self.send(text)
        while True:
            frame = await self.reader.message(wait)
            if frame["message"]["id"] == sent:
                return time.monotonic() - started

    async def recovers(self, label: str, in_a_row: int = 3) -> float:
        """Seconds until messages cross over within LIVE again, `in_a_row` of them one after
        another (one alone could have been the sweep's luck); fails after RECOVERY."""
        started = time.monotonic()
        live = 0
        while time.monotonic() - started < RECOVERY:
            try:
                live = live + 1 if await self.latency(f"{label} {time.monotonic()}") < LIVE else 0
            except (httpx.HTTPError, TimeoutError, Unavailable):
                live = 0
                await asyncio.sleep(0.2)
            if live == in_a_row:
                return time.monotonic() - started
        raise AssertionError(f"live delivery did not come back within {RECOVERY}s ({label})")

    async def exactly_once(self) -> None:
        """Everything sent reached bob once, in order, whatever the drops and resumes."""
        got = [f["message"]["id"] for f in self.reader.frames if f["type"] == "message.created"]
        positions = [f["pos"] for f in self.reader.frames]
        assert positions == sorted(set(positions)), "a repeated or reordered event"
        assert got == self.sent

    async def close(self) -> None:
        await self.reader.close()
        await self.http.aclose()


@pytest.fixture
async def servers() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


def _log(server: ServerProcess) -> str:
    return server.log_path.read_text(errors="replace")


def _assert_quiet(server: ServerProcess, outages: int) -> None:
    """No traceback; at most a handful of lines per outage (not one per write)."""
    text = _log(server)
    assert "Traceback" not in text, text[-3000:]
    assert len([line for line in text.splitlines() if line.strip()]) <= 6 * outages, text


async def _degraded(pair: Pair, label: str, count: int, every: float = 0.0) -> None:
    """While the broker is away: `count` writes, each answered in normal time, then all of them
    delivered all the same (by the sweep: degraded, not lost)."""
    for i in range(count):
        _sent, took = await pair.send(f"{label} {i}")
        assert took < WRITE, took
        await asyncio.sleep(every)
    for _ in range(count):
        await pair.reader.message(SWEEP + 5)


async def test_postgres_restart_under_the_postgres_broker(
    own_cluster: PgCluster, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    url = _database("postgresql", own_cluster, tmp_path)
    servers += [_start(url, tmp_path, f"pg-{i}", CHATD_BROKER_URL="postgres://") for i in (1, 2)]
    pair = Pair(servers[1], servers[0])
    try:
        await pair.setup("pgrestart")
        assert await pair.latency("before") < LIVE
        await asyncio.to_thread(own_cluster.stop_server)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(own_cluster.start_server)
        await pair.recovers("after the restart")
        await pair.exactly_once()
    finally:
        await pair.close()
    for server in servers:
        _assert_quiet(server, outages=1)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_redis_killed_then_back(
    database: str,
    own_cluster: PgCluster,
    redis_server: RedisServer,
    tmp_path: Path,
    servers: list[ServerProcess],
) -> None:
    url = _database(database, own_cluster, tmp_path)
    servers += [
        _start(url, tmp_path, f"redis-{i}", CHATD_BROKER_URL=redis_server.url) for i in (1, 2)
    ]
    pair = Pair(servers[1], servers[0])
    try:
        await pair.setup("rkill")
        assert await pair.latency("before") < LIVE
        redis_server.kill()
        await _degraded(pair, "during the outage", 5)
        # A user who connects during the outage hears live hints once Redis is back.
        late = Pair(servers[1], servers[0])
        await late.setup("rlate")
        redis_server.start()
        await pair.recovers("after Redis came back")
        await late.recovers("for a stream opened during the outage")
        await late.close()
        await pair.exactly_once()
    finally:
        await pair.close()
    for server in servers:
        _assert_quiet(server, outages=1)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_hung_redis_never_delays_a_write(
    database: str,
    own_cluster: PgCluster,
    redis_server: RedisServer,
    tmp_path: Path,
    servers: list[ServerProcess],
) -> None:
    url = _database(database, own_cluster, tmp_path)
    servers += [
        _start(url, tmp_path, f"hung-{i}", CHATD_BROKER_URL=redis_server.url) for i in (1, 2)
    ]
    pair = Pair(servers[1], servers[0])
    try:
        await pair.setup("rhung")
        assert await pair.latency("before") < LIVE
        redis_server.pause()
        try:
            await _degraded(pair, "while Redis hangs", 8, every=0.25)
        finally:
            redis_server.resume()
        await pair.recovers("after Redis answered again")
        await pair.exactly_once()
    finally:
        await pair.close()
    for server in servers:
        _assert_quiet(server, outages=1)


async def test_chatd_starts_with_redis_down_and_connects_when_it_comes(
    own_cluster: PgCluster, redis_server: RedisServer, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    url = _database("postgresql", own_cluster, tmp_path)
    redis_server.kill()
    servers += [
        _start(url, tmp_path, f"down-{i}", CHATD_BROKER_URL=redis_server.url) for i in (1, 2)
    ]
    pair = Pair(servers[1], servers[0])
    try:
        await pair.setup("rdown")  # HTTP and the stream work without the broker
        _sent, took = await pair.send("with Redis down")
        assert took < WRITE
        await pair.reader.message(SWEEP + 5)
        redis_server.start()
        await pair.recovers("once Redis is up")
        await pair.exactly_once()
    finally:
        await pair.close()
    for server in servers:
        text = _log(server)
        assert "Traceback" not in text, text[-3000:]
        assert "redis" in text.lower(), "one line should say the broker is unreachable"
