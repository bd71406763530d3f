"""Follow your chatd events from the command line, resuming where you left off.

    python examples/stream_client.py --server http://localhost:9000 --username alice
    (the password is read from CHATD_PASSWORD, or asked for)

Prints each event as one line of JSON, then records its position in a state file (--state,
default ~/.chatd-stream-<username>), so after a restart, a crash or a lost connection it resumes
right after the last event it recorded: nothing is missed. A crash between printing an event and
recording it shows that one event again: make processing idempotent by `pos` (skip what you have
already applied). This is the reconnect loop every client should run:

    1. connect, send {"type": "auth", "token": ..., "pos": <last pos processed>}
    2. on {"type": "resync_required"}: your copy is stale; reload what you show over HTTP
    3. process events in order; after each one, remember its pos
    4. when the connection drops: wait (1 s, 2 s, 4 s ... up to 30 s), go to 1
       but on close code 4001 (bad token) or 4003 (blocked): stop, retrying will not help

Needs only the `websockets` package.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import urllib.request
from pathlib import Path

import websockets

FATAL = {4001: "the token was refused", 4003: "the user is blocked"}


def log_in(server: str, username: str, password: str) -> str:
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{server}/api/v1/auth/tokens",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        token: str = json.load(response)["token"]
        return token


def load_pos(state: Path) -> int | None:
    try:
        return int(state.read_text())
    except (FileNotFoundError, ValueError):
        return None


def save_pos(state: Path, pos: int) -> None:
    partial = state.with_suffix(".tmp")
    partial.write_text(str(pos))
    partial.replace(state)  # atomic: a crash leaves the old position or the new one


async def follow(server: str, token: str, state: Path, typing: int | None = None) -> int:
    url = server.replace("http", "ws", 1) + "/api/v1/ws"
    backoff = 1.0
    while True:
        try:
            async with websockets.connect(url) as connection:
                auth: dict[str, object] = {"type": "auth", "token": token}
                pos = load_pos(state)
                if pos is not None:
                    auth["pos"] = pos
                await connection.send(json.dumps(auth))
                async for raw in connection:
                    frame = json.loads(raw)
                    if frame["type"] == "ready":
                        backoff = 1.0
                        print(json.dumps({"status": "ready", "pos": frame["pos"]}), flush=True)
                        if pos is None:
                            save_pos(state, frame["pos"])
                        if typing is not None:  # others in the chat see "... is typing"
                            await connection.send(json.dumps({"type": "typing", "chat": typing}))
                        continue
                    if frame["type"] == "resync_required":
                        print(json.dumps({"status": "resync_required"}), flush=True)
                        save_pos(state, frame["pos"])
                        continue
                    print(json.dumps(frame, ensure_ascii=False), flush=True)
                    if "pos" in frame:  # typing and presence are ephemeral: nothing to resume
                        save_pos(state, frame["pos"])
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code in FATAL:
                print(f"stream closed: {FATAL[code]}", file=sys.stderr)
                return 1
        except OSError as exc:
            print(f"cannot connect: {exc}", file=sys.stderr)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="http://localhost:9000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--state", type=Path, help="where the last position is kept")
    parser.add_argument("--typing", type=int, metavar="CHAT", help="say you are typing in CHAT")
    args = parser.parse_args()
    password = os.environ.get("CHATD_PASSWORD") or getpass.getpass()
    state = args.state or Path.home() / f".chatd-stream-{args.username}"
    token = log_in(args.server, args.username, password)
    try:
        return asyncio.run(follow(args.server, token, state, args.typing))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
