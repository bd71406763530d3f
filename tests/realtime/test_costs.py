"""What open streams cost the database: one shared read of the change log per instance and
wake, however many sockets are open. Counted from PostgreSQL's own statement log (a cluster of
this module's, with log_statement=all), not from chatd's word.

Before, every socket read the log for itself: each sweep woke every socket behind the log's
end, and each message cost one read per online member."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.v1_helpers import create_chat, send, sign_up_many
from tests.e2e.server import ServerProcess
from tests.pgcluster import FAST_UNSAFE, PgCluster
from tests.realtime.conftest import STREAM_SETTINGS
from tests.realtime.streams import Stream

IDLE = 60  # sockets of users in no chat
MEMBERS = 20  # sockets of one chat's members
MESSAGES = 10
SWEEP = 0.5


@pytest.fixture(scope="module")
def logged_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster(settings=(*FAST_UNSAFE, "log_statement=all")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _log_reads(cluster: PgCluster, since: int) -> int:
    """Statements that read the change log, logged after byte `since` of the server's log."""
    with (cluster.root / "log").open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return len(
        re.findall(r"(?m)^.*LOG:\s+(?:statement|execute [^:]*):\s+SELECT\b.*change_log", text)
    )


def _log_size(cluster: PgCluster) -> int:
    return (cluster.root / "log").stat().st_size


async def test_idle_sockets_and_a_chats_members_cost_one_read_a_wake(
    logged_cluster: PgCluster, tmp_path: Path
) -> None:
    logged_cluster.psql("CREATE DATABASE costs")
    settings = {**STREAM_SETTINGS, "CHATD_STREAM_SWEEP_SECONDS": str(SWEEP)}
    server = ServerProcess(logged_cluster.url("costs"), tmp_path / "server.log", **settings)
    server.start()
    streams: list[Stream] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            names = [f"idle{i}" for i in range(IDLE)] + [f"member{i}" for i in range(MEMBERS)]
            users = await sign_up_many(http, *names)
            idle, members = users[:IDLE], users[IDLE:]
            chat = (await create_chat(http, members[0], "crowd", members[1:]))["id"]
            streams = [await Stream.open(server.url, user) for user in users]
            await asyncio.sleep(1.0)

            since = _log_size(logged_cluster)
            started = asyncio.get_running_loop().time()
            for i in range(MESSAGES):
                await send(http, members[0], chat, f"to all {i}")
                await asyncio.sleep(0.2)
            for stream in streams[IDLE:]:
                assert len(await stream.take(MESSAGES)) == MESSAGES
            await asyncio.sleep(1.0)  # idle: only sweeps now
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(0.3)  # let the log catch up with the server
            reads = _log_reads(logged_cluster, since)
        for stream in streams[:IDLE]:
            await stream.silence(0.01)
    finally:
        for stream in streams:
            await stream.close()
        server.kill()
    # Per message: the hub's read of the log (woken by the write) and perhaps a second one (a
    # hint echoed back); per sweep: one read. Nothing scales with the 80 sockets open: before,
    # this was ~20 reads a message and ~80 a sweep.
    sweeps = elapsed / SWEEP
    assert reads <= 2 * MESSAGES + sweeps + 5, (reads, MESSAGES, sweeps)
    assert len(idle) == IDLE
