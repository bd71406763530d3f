"""examples/stream_client.py prints events and, restarted, resumes exactly after the last one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.api.v1_helpers import PASSWORD, create_chat, send, sign_up_many
from tests.e2e.server import ServerProcess
from tests.realtime.streams import Stream

CLIENT = Path(__file__).parents[2] / "examples" / "stream_client.py"


async def _start(server: ServerProcess, state: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CLIENT),
        "--server",
        server.url,
        "--username",
        "bob",
        "--state",
        str(state),
        env={**os.environ, "CHATD_PASSWORD": PASSWORD},
        stdout=asyncio.subprocess.PIPE,
    )


async def _line(client: asyncio.subprocess.Process) -> dict[str, Any]:
    assert client.stdout is not None
    line = await asyncio.wait_for(client.stdout.readline(), 10)
    assert line, "the example client exited"
    found: dict[str, Any] = json.loads(line)
    return found


def _holds(state: Path, pos: int) -> bool:
    return state.exists() and state.read_text() == str(pos)


async def _recorded(state: Path, pos: int) -> None:
    """Waits until the client has recorded `pos` (it prints an event, then records it)."""
    for _ in range(200):
        if await asyncio.to_thread(_holds, state, pos):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the client did not record {pos}")


async def _stop(client: asyncio.subprocess.Process) -> None:
    client.send_signal(signal.SIGKILL)  # no chance to save anything more: like a crash
    await client.wait()


async def test_the_example_client_prints_events_and_resumes_after_a_restart(
    server: ServerProcess, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    alice, _bob = await sign_up_many(http, "alice", "bob")
    state = tmp_path / "bob.pos"
    client = await _start(server, state)
    try:
        assert (await _line(client))["status"] == "ready"
        chat = (await create_chat(http, alice, "room", [_bob]))["id"]
        assert (await _line(client))["type"] == "chat.created"
        first = await send(http, alice, chat, "while running")
        printed = await _line(client)
        assert printed["message"]["id"] == first["id"]
        await _recorded(state, printed["pos"])  # then killed: it processed and recorded that
    finally:
        await _stop(client)

    missed = [await send(http, alice, chat, f"while stopped {i}") for i in range(3)]
    client = await _start(server, state)
    try:
        assert (await _line(client))["status"] == "ready"
        replayed = [await _line(client) for _ in missed]
        assert [f["message"]["id"] for f in replayed] == [m["id"] for m in missed]
        live = await send(http, alice, chat, "live")
        assert (await _line(client))["message"]["id"] == live["id"]
        # An ephemeral frame (alice comes online) is printed and has no pos to record.
        alices = await Stream.open(server.url, alice)
        assert (await _line(client))["type"] == "presence"
        after = await send(http, alice, chat, "after presence")
        assert (await _line(client))["message"]["id"] == after["id"]
        await alices.close()
    finally:
        await _stop(client)
