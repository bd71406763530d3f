"""`chatd serve --workers 2`: two processes on one port, and real time crosses them.

Streams are opened through the one port until both workers hold some (which process accepted a
connection is read from /proc); a message sent once must then reach every stream well before the
sweep could have brought it (the sweep is set to a minute), so it came through the broker. The
memory:// broker, which reaches one process only, is refused with one line. Two workers on one
SQLite file store concurrent sends once each, gap-free.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.e2e.server import CHATD, ServerProcess
from tests.pgcluster import PgCluster, free_port
from tests.redisserver import RedisServer

pytestmark = pytest.mark.e2e

SWEEP = 60.0  # seconds: a delivery that waited for the sweep would blow PROMPTLY
PROMPTLY = 3.0  # seconds, on a loaded 2-core machine: a broker hint takes milliseconds
STREAMS_WITHIN = 60.0  # seconds for both workers to take streams
ENV = {
    "CHATD_WORKERS": "2",
    "CHATD_ARGON2_PROFILE": "CHEAPEST",
    "CHATD_RATE_LIMIT_SENDS": "",
    "CHATD_RATE_LIMIT_REGISTRATIONS": "",
    "CHATD_RATE_LIMIT_LOGINS": "",
    "CHATD_STREAM_SWEEP_SECONDS": str(SWEEP),
}


def _postgres_database(cluster: PgCluster, name: str) -> str:
    cluster.psql(f"CREATE DATABASE {name}")
    return cluster.url(name)


def _workers_of(server: ServerProcess) -> set[int]:
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return {int(pid) for pid in children.read_text().split()}


def _inode_of(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the TCP connection from `client_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rpartition(":")[2], 16) == server_port and (
                int(remote.rpartition(":")[2], 16) == client_port
            ):
                return inode
    return None


def _holder(server: ServerProcess, stream: ClientConnection) -> int | None:
    """Which worker process holds the server's end of `stream`."""
    inode = _inode_of(server.port, stream.socket.getsockname()[1])
    for pid in _workers_of(server):
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _open_stream(streams: ExitStack, server: ServerProcess, token: str) -> ClientConnection:
    stream = streams.enter_context(connect(server.url.replace("http://", "ws://") + "/api/v1/ws"))
    stream.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(stream.recv(timeout=10))["type"] == "ready"
    return stream


def _next_event(stream: ClientConnection, deadline: float) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(stream.recv(timeout=deadline - time.monotonic()))
        if frame["type"] != "pong":
            return frame


def _a_message_reaches_streams_on_both_workers(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        account = {"username": "alice", "password": "alice's password"}
        assert http.post("/api/v1/users", json=account).status_code == 201
        token = http.post("/api/v1/auth/tokens", json=account).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        chat = http.post("/api/v1/chats", json={"name": "both"}, headers=auth).json()["id"]
        with ExitStack() as streams:
            # The second worker may still be starting (a spawned interpreter imports everything):
            # streams are opened until both hold two, those beyond two on a worker closed.
            held: dict[int, list[ClientConnection]] = {}
            deadline = time.monotonic() + STREAMS_WITHIN
            while len(held) < 2 or min(len(s) for s in held.values()) < 2:
                assert time.monotonic() < deadline, f"streams landed on one worker: {held.keys()}"
                stream = _open_stream(streams, server, token)
                holder = _holder(server, stream)
                assert holder is not None
                if len(held.setdefault(holder, [])) < 2:
                    held[holder].append(stream)
                else:
                    stream.close()
                    time.sleep(0.05)

            sent = time.monotonic()
            reply = http.post(
                f"/api/v1/chats/{chat}/messages", json={"text": "to all"}, headers=auth
            )
            assert reply.status_code == 201, reply.text
            deadline = sent + PROMPTLY
            for worker, on_worker in held.items():
                for stream in on_worker:
                    event = _next_event(stream, deadline)
                    assert event["type"] == "message.created", (worker, event)
            assert time.monotonic() - sent < PROMPTLY


@contextmanager
def _serving(database_url: str, log: Path, broker_url: str) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, log, **ENV, CHATD_BROKER_URL=broker_url)
    server.start(timeout=60)
    workers = _workers_of(server)
    try:
        yield server
    finally:
        server.stop()  # the parent stops its workers; a killed parent would leave them serving
        for pid in workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_postgres_broker_reaches_streams_on_both_workers(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = _postgres_database(pg_cluster, "workers_pg")
    with _serving(url, tmp_path / "server.log", "postgres://") as server:
        _a_message_reaches_streams_on_both_workers(server)


def test_redis_broker_reaches_streams_on_both_workers_on_sqlite(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    with _serving(url, tmp_path / "server.log", redis_server.url) as server:
        _a_message_reaches_streams_on_both_workers(server)


def test_memory_broker_with_several_workers_is_refused_in_one_line(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    result = subprocess.run(
        [str(CHATD), "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={**clean, "CHATD_DATABASE_URL": f"sqlite:///{tmp_path / 'chatd.db'}"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for mention in ("--workers 2", "memory://", "CHATD_BROKER_URL", "redis://", "postgres://"):
        assert mention in lines[0]
    assert not (tmp_path / "chatd.db").exists()  # refused before anything was done


SENDS = 60


async def test_sends_through_two_workers_on_one_sqlite_file_are_each_stored_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Two processes write one SQLite file: their group commits take the file's write lock in
    turn, and the chat's history stays gap-free."""
    url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    with _serving(url, tmp_path / "server.log", redis_server.url) as server:
        limits = httpx.Limits(max_connections=SENDS)  # a connection each: both workers take some
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
            account = {"username": "alice", "password": "alice's password"}
            assert (await http.post("/api/v1/users", json=account)).status_code == 201
            token = (await http.post("/api/v1/auth/tokens", json=account)).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            chat = (await http.post("/api/v1/chats", json={"name": "busy"}, headers=auth)).json()
            path = f"/api/v1/chats/{chat['id']}/messages"
            texts = [f"message {n}" for n in range(SENDS)]
            replies = await asyncio.gather(
                *(http.post(path, json={"text": text}, headers=auth) for text in texts)
            )
            assert [reply.status_code for reply in replies] == [201] * SENDS
            stored = (await http.get(f"{path}?limit={SENDS}", headers=auth)).json()["messages"]
    assert [message["seq"] for message in stored] == list(range(1, SENDS + 1))
    assert sorted(message["text"] for message in stored) == sorted(texts)
