"""A WebSocket client for the stream tests, checking every frame against its published schema."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

import jsonschema
import websockets
from websockets.asyncio.client import ClientConnection

from tests.api.v1_helpers import User
from tests.e2e.server import CHATD, ServerProcess

SCHEMAS = Path(__file__).parents[2] / "docs" / "events"
EPHEMERAL = frozenset({"typing", "presence"})  # never logged: no pos, never replayed


def check_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame, after validating it against docs/events/<type>.json."""
    schema = json.loads((SCHEMAS / f"{frame['type']}.json").read_text())
    jsonschema.validate(frame, schema)
    return frame


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/api/v1/ws"


class Stream:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.ready: dict[str, Any] = {}

    @classmethod
    async def open(
        cls, base: str, user: User, pos: int | None = None, sock: socket.socket | None = None
    ) -> Stream:
        """Connects (over `sock` if given) and authenticates with the first frame, as a browser
        does."""
        stream = cls(await websockets.connect(ws_url(base), sock=sock))
        auth: dict[str, Any] = {"type": "auth", "token": user.token}
        if pos is not None:
            auth["pos"] = pos
        await stream.connection.send(json.dumps(auth))
        stream.ready = await stream.next()
        while stream.ready["type"] == "resync_required":
            stream.ready = await stream.next()
        assert stream.ready["type"] == "ready", stream.ready
        return stream

    async def next(self, wait: float = 5.0) -> dict[str, Any]:
        """The next frame of the log's (ephemeral ones, typing and presence, are checked and
        skipped: they come whenever someone types or connects; `ephemeral` takes them)."""
        async with asyncio.timeout(wait):
            while True:
                frame = check_frame(json.loads(await self.connection.recv()))
                if frame["type"] not in EPHEMERAL:
                    return frame

    async def ephemeral(self, wait: float = 5.0) -> dict[str, Any]:
        """The next typing or presence frame (the log's frames are checked and skipped)."""
        async with asyncio.timeout(wait):
            while True:
                frame = check_frame(json.loads(await self.connection.recv()))
                if frame["type"] in EPHEMERAL:
                    return frame

    async def take(self, count: int, wait: float = 5.0) -> list[dict[str, Any]]:
        return [await self.next(wait) for _ in range(count)]

    async def silence(self, seconds: float = 0.5, ephemeral: bool = False) -> None:
        """Asserts that nothing of the log's arrives for `seconds` (nor any typing or presence
        frame, with `ephemeral`)."""
        try:
            frame = await (self.ephemeral if ephemeral else self.next)(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {frame}")

    async def closed(self, wait: float = 5.0) -> tuple[int | None, str | None]:
        """Waits for the server to close; the close code and reason."""
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), wait)
        except websockets.ConnectionClosed as closed:
            if closed.rcvd is None:
                return None, None
            return closed.rcvd.code, closed.rcvd.reason

    async def close(self) -> None:
        await self.connection.close()


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["type"] for frame in frames]


async def promote(server: ServerProcess, username: str, role: str = "promote") -> None:
    """Makes the user a moderator (or a plain user again, with role="demote"), as an operator
    does: `chatd users promote`."""
    process = await asyncio.create_subprocess_exec(
        str(CHATD),
        "users",
        role,
        username,
        env={**os.environ, "CHATD_DATABASE_URL": server.database_url},
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await process.wait() == 0


async def replay(base: str, user: User, pos: int = 0) -> list[dict[str, Any]]:
    """The user's stream after `pos` as the log holds it now (everything, from 0), until a
    second passes without a frame."""
    stream = await Stream.open(base, user, pos=pos)
    frames = []
    try:
        while True:
            frames.append(await stream.next(wait=1.0))
    except TimeoutError:
        return frames
    finally:
        await stream.close()
