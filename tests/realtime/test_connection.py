"""The socket itself: authentication and its close codes, keep-alive, slow clients, frame size,
and blocked users."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.api.v1_helpers import create_chat, ok, send, sign_up, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.conftest import serving
from tests.realtime.streams import Stream, check_frame, promote, ws_url


async def _close_code(server: ServerProcess, *frames: str | bytes, **headers: str) -> int | None:
    async with websockets.connect(ws_url(server.url), additional_headers=headers) as connection:
        for frame in frames:
            await connection.send(frame)
        try:
            while True:
                await asyncio.wait_for(connection.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_bad_authentication_closes_with_the_documented_codes(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice = await sign_up(http, "alice")
    auth = {"type": "auth", "token": "not-a-token"}
    assert await _close_code(server, json.dumps(auth)) == 4001
    assert await _close_code(server, Authorization="Bearer not-a-token") == 4001
    assert await _close_code(server) == 4008  # no auth frame within CHATD_WS_AUTH_TIMEOUT
    assert await _close_code(server, "not json") == 4002
    assert await _close_code(server, json.dumps({"type": "hello"})) == 4002
    assert await _close_code(server, json.dumps(["auth"])) == 4002
    assert await _close_code(server, b"\x00binary") == 4002
    bad_pos = {"type": "auth", "token": alice.token, "pos": "soon"}
    assert await _close_code(server, json.dumps(bad_pos)) == 4002
    # A revoked token, too.
    ok(await http.delete("/api/v1/auth/tokens/current", headers=alice.auth), 204)
    revoked = {"type": "auth", "token": alice.token}
    assert await _close_code(server, json.dumps(revoked)) == 4001


async def test_the_bearer_header_authenticates_without_an_auth_frame(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice, bob = await sign_up_many(http, "alice", "bob")
    chat = (await create_chat(http, alice, "room", [bob]))["id"]
    first = await send(http, alice, chat, "one")
    headers = {"Authorization": f"Bearer {bob.token}"}
    url = ws_url(server.url) + "?pos=0"
    async with websockets.connect(url, additional_headers=headers) as connection:
        ready = check_frame(json.loads(await connection.recv()))
        assert ready == {"type": "ready", "pos": 0, "user": bob.id}
        created = check_frame(json.loads(await connection.recv()))
        message = check_frame(json.loads(await connection.recv()))
        assert created["type"] == "chat.created"
        assert message["message"]["id"] == first["id"]
        await connection.send(json.dumps({"type": "ping"}))
        assert check_frame(json.loads(await connection.recv())) == {"type": "pong"}
        await connection.send(json.dumps({"type": "subscribe"}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4002


async def test_a_blocked_users_streams_close_within_a_second(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    moderator, bob = await sign_up_many(http, "mod", "bob")
    await promote(server, "mod")
    streams = [await Stream.open(server.url, bob) for _ in range(2)]
    started = time.monotonic()
    ok(await http.put(f"/api/v1/users/{bob.id}/block", headers=moderator.auth), 204)
    for stream in streams:
        code, _reason = await stream.closed(wait=2)
        assert code == 4003
    assert time.monotonic() - started < 1.0


async def test_a_frame_over_the_limit_closes_the_socket(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    alice = await sign_up(http, "alice")
    stream = await Stream.open(server.url, alice)
    await stream.connection.send(json.dumps({"type": "ping", "pad": "x" * 5000}))
    code, _reason = await stream.closed()
    assert code == 1009  # CHATD_WS_MAX_FRAME_BYTES is 4096 here


COUNT = 600
SEND_TIMEOUT = 3.0


@pytest.fixture(params=["sqlite", "postgresql"])
def patient(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that waits 3 s for a full send buffer: a client that keeps up never waits that
    long, even on a busy test machine; one that stopped reading does."""
    # Pings are slowed down: a client that stops reading stops answering them too, and this
    # test is about the send buffer's bound, not about keep-alive.
    slow_pings = {"CHATD_WS_PING_INTERVAL": "60", "CHATD_WS_PING_TIMEOUT": "60"}
    with serving(
        request.param, tmp_path, request, CHATD_WS_SEND_TIMEOUT=str(SEND_TIMEOUT), **slow_pings
    ) as process:
        yield process


async def test_a_slow_client_is_disconnected_without_delaying_the_others(
    patient: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=patient.url, timeout=10) as http:
        await _slow_and_fast(patient, http)


async def _slow_and_fast(server: ServerProcess, http: httpx.AsyncClient) -> None:
    alice, slow, fast = await sign_up_many(http, "alice", "slow", "fast")
    chat = (await create_chat(http, alice, "busy", [slow, fast]))["id"]
    # A small receive window (no autotuning), so that what chatd sends piles up in its own
    # send buffer (at most 4 MiB here: net.ipv4.tcp_wmem) once the client stops reading.
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    small.connect(("127.0.0.1", server.port))
    small.setblocking(False)
    laggard = await Stream.open(server.url, slow, sock=small)
    laggard.connection.transport.pause_reading()
    keeper = await Stream.open(server.url, fast)
    reading = asyncio.ensure_future(keeper.take(COUNT, wait=10))  # a client that keeps up
    text = "x" * 9000
    sent: list[int] = []
    for start in range(0, COUNT, 20):  # ~5.4 MB per reader: more than the buffers hold
        batch = [send(http, alice, chat, f"{i} {text}") for i in range(start, start + 20)]
        sent += [m["id"] for m in await asyncio.gather(*batch)]
    received = await reading
    assert sorted(f["message"]["id"] for f in received) == sorted(sent)
    # The laggard stays away longer than the send timeout even when the sends went quickly:
    # its backlog filled the buffers during them, so chatd has been waiting on it since.
    await asyncio.sleep(SEND_TIMEOUT + 1)
    laggard.connection.transport.resume_reading()
    code, _reason = await laggard.closed(wait=10)
    # 4009 when the close frame gets through the backlog in time, else the connection is cut.
    assert code in (4009, None)
    # It can resume from before the first event it missed.
    resumed = await Stream.open(server.url, slow, pos=received[0]["pos"] - 1)
    again = await resumed.take(COUNT, wait=10)
    assert [f["message"]["id"] for f in again] == [f["message"]["id"] for f in received]
    await resumed.close()
    await keeper.close()


@pytest.fixture
def quick_pings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    pings = {"CHATD_WS_PING_INTERVAL": "0.3", "CHATD_WS_PING_TIMEOUT": "0.5"}
    with serving("sqlite", tmp_path, request, **pings) as process:
        yield process


async def test_a_connection_that_stops_answering_pings_is_closed(
    quick_pings: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=quick_pings.url) as http:
        alice = await sign_up(http, "alice")
    # A bare TCP client: it completes the handshake, authenticates, then never answers a ping.
    reader, writer = await asyncio.open_connection("127.0.0.1", quick_pings.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {alice.token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    started = time.monotonic()
    received = b""
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        received += chunk
    assert b"101 Switching Protocols" in received
    assert b'"type":"ready"' in received
    # Closed after one interval and one timeout; a close frame (0x88) with 1011 went first.
    assert time.monotonic() - started < 3
    assert b"\x88" in received
    writer.close()
