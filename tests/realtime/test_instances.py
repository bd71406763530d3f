"""Several server processes on one database: a change accepted by one instance reaches streams
open on another, through the broker (postgres:// or redis://), or, with no broker between
them, through the sweep: the log is the source of truth, a lost hint only delays."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.api.v1_helpers import create_chat, send, sign_up_many
from tests.e2e.server import CHATD, ServerProcess
from tests.realtime.conftest import STREAM_SETTINGS, new_database, server_pair
from tests.realtime.streams import Stream
from tests.redisserver import RedisServer


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (.ci/run installs Debian's redis-server)")
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


async def _across(
    one: ServerProcess, other: ServerProcess, within: float, names: str = "ab"
) -> None:
    """A stream on `one` receives what was sent through `other`, within `within` seconds."""
    async with httpx.AsyncClient(base_url=other.url, timeout=10) as http:
        alice, bob = await sign_up_many(http, f"{names}-alice", f"{names}-bob")
        chat = (await create_chat(http, alice, f"{names}-across", [bob]))["id"]
        bobs = await Stream.open(one.url, bob)
        for text in ("first", "second"):
            started = time.monotonic()
            sent = await send(http, alice, chat, text)
            pushed = await bobs.next(wait=within + 5)
            assert pushed["message"]["id"] == sent["id"]
            assert time.monotonic() - started < within
        await bobs.close()


@pytest.fixture
def pg_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return new_database("postgresql", tmp_path, request)


async def test_postgres_broker_carries_changes_between_instances(
    pg_database: str, tmp_path: Path
) -> None:
    servers = server_pair(pg_database, tmp_path, CHATD_BROKER_URL="postgres://")
    try:
        await _across(servers[0], servers[1], within=1.0)  # the sweep is 30 s here
        await _across(servers[1], servers[0], within=1.0, names="ba")
    finally:
        for server in servers:
            server.kill()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_redis_broker_carries_changes_between_instances(
    database: str, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database(database, tmp_path, request)
    servers = server_pair(url, tmp_path, CHATD_BROKER_URL=redis_url)
    try:
        await _across(servers[0], servers[1], within=1.0)
    finally:
        for server in servers:
            server.kill()


async def test_without_a_broker_between_instances_the_sweep_still_delivers(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # memory:// hints stay in their process: only the sweep finds what the other one logged.
    url = new_database("sqlite", tmp_path, request)
    servers = server_pair(url, tmp_path, CHATD_STREAM_SWEEP_SECONDS="0.5")
    try:
        await _across(servers[0], servers[1], within=2.0)
    finally:
        for server in servers:
            server.kill()


async def test_a_later_position_is_never_visible_before_an_earlier_one(
    pg_database: str, tmp_path: Path
) -> None:
    # Another writer holds position N, uncommitted (as a slow transaction would): chatd's next
    # change cannot take N+1, let alone become visible, until N is committed.
    server = ServerProcess(pg_database, tmp_path / "server.log", **STREAM_SETTINGS).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            alice, bob = await sign_up_many(http, "alice", "bob")
            chat = (await create_chat(http, alice, "room", [bob]))["id"]
            bobs = await Stream.open(server.url, bob)
            other = await asyncpg.connect(pg_database)
            try:
                async with other.transaction():
                    held = await other.fetchval(
                        "UPDATE change_log SET last_pos = last_pos + 1 RETURNING last_pos"
                    )
                    await other.execute(
                        "INSERT INTO changes (pos, type, chat_id, user_id, seq, created_at)"
                        " VALUES ($1, 'chat.read', $2, $3, 0, now())",
                        held,
                        chat,
                        bob.id,
                    )
                    sending = asyncio.ensure_future(send(http, alice, chat, "after"))
                    await bobs.silence(0.5)
                    assert not sending.done()
            finally:
                await other.close()
            sent = await sending
            first, second = await bobs.take(2)
            assert (first["type"], first["pos"]) == ("chat.read", held)
            assert second["pos"] == held + 1
            assert second["message"]["id"] == sent["id"]
            await bobs.close()
    finally:
        server.kill()


async def _resumed_across_a_re_adding(writer: ServerProcess, reader: ServerProcess) -> None:
    """bob resumes on `reader` from before his removal and re-adding (both made on `writer`):
    the replay holds both, and the chat's later messages come live, hinted, not swept."""
    async with httpx.AsyncClient(base_url=writer.url, timeout=10) as http:
        alice, bob = await sign_up_many(http, "readd-alice", "readd-bob")
        chat = (await create_chat(http, alice, "readd", [bob]))["id"]
        bobs = await Stream.open(reader.url, bob)
        saved = bobs.ready["pos"]
        await bobs.close()
        path = f"/api/v1/chats/{chat}"
        for users in ([alice.id], [alice.id, bob.id]):
            response = await http.patch(path, json={"users": users}, headers=alice.auth)
            assert response.status_code == 200
        back = await Stream.open(reader.url, bob, pos=saved)
        assert [f["type"] for f in await back.take(2)] == ["member.removed", "member.added"]
        started = time.monotonic()
        sent = await send(http, alice, chat, "live after the resume")
        pushed = await back.next(wait=5)
        assert pushed["message"]["id"] == sent["id"]
        assert time.monotonic() - started < 1.0  # the sweep is 30 s here
        await back.close()


@pytest.mark.parametrize("broker", ["postgres", "redis"])
async def test_a_resume_across_a_removal_and_a_re_adding_stays_live_across_instances(
    broker: str, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    url = "postgres://" if broker == "postgres" else redis_url
    servers = server_pair(pg_database, tmp_path, CHATD_BROKER_URL=url)
    try:
        await _resumed_across_a_re_adding(servers[1], servers[0])
    finally:
        for server in servers:
            server.kill()


async def _block_from_the_command_line(server: ServerProcess, broker_url: str) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        (bob,) = await sign_up_many(http, "cli-bob")
        streams = [await Stream.open(server.url, bob) for _ in range(2)]
        started = time.monotonic()
        blocking = await asyncio.create_subprocess_exec(
            str(CHATD),
            *("users", "block", "cli-bob", "--database-url", server.database_url),
            *("--broker-url", broker_url),
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await blocking.wait() == 0
        blocked = time.monotonic()
        for stream in streams:
            code, _reason = await stream.closed(wait=3)
            assert code == 4003
        # Within a second of the command's commit (its own start-up is not the server's).
        assert time.monotonic() - blocked < 1.0, time.monotonic() - started


@pytest.mark.parametrize("broker", ["memory", "postgres", "redis"])
async def test_a_block_from_the_command_line_closes_streams_within_a_second(
    broker: str, pg_database: str, redis_url: str, tmp_path: Path
) -> None:
    # memory:// reaches no other process: there the server's sweep (0.5 s by default) does.
    url = {"memory": "memory://", "postgres": "postgres://", "redis": redis_url}[broker]
    sweep = {"CHATD_STREAM_SWEEP_SECONDS": "0.5"} if broker == "memory" else {}
    env = {**STREAM_SETTINGS, "CHATD_BROKER_URL": url, **sweep}
    server = ServerProcess(pg_database, tmp_path / "server.log", **env).start()
    try:
        await _block_from_the_command_line(server, url)
    finally:
        server.kill()
