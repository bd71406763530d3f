"""The client side of bench.sockets: accounts over HTTP, and the streams in worker processes.

One Python process cannot open and read thousands of WebSockets without becoming the slowest part
of the measurement, so the streams are spread over a few workers (multiprocessing, spawned). The
bench drives each worker over a pipe, one command at a time:

    ("open", url, tokens)   open a stream per token (Authorization: Bearer), wait for `ready`
    ("keep", user_ids)      close every stream whose user is not listed
    ("created", chat_id)    how many streams received chat.created for that chat
    ("arrivals", prefix)    (user, text, time) of every message.created whose text starts so
    ("status",)             streams open, and close codes of the ones the server ended
    ("stop",)               exit (the kernel closes the sockets)

A frame's arrival time is time.time() taken first thing when the frame reaches its reader: one
clock for every process on the machine, and the client's own delay is included.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import httpx
import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

OPENING_AT_ONCE = 32  # handshakes in flight per worker
OPEN_TIMEOUT = 60.0
REQUESTS_AT_ONCE = 32
PASSWORD = "bench-password"
GROUP = 10

Arrival = tuple[int, str, float]  # user, message text, time.time() of the frame


@dataclass(frozen=True)
class Account:
    id: int
    token: str


def api_client(base_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=REQUESTS_AT_ONCE)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60, trust_env=False)


async def post(
    api: httpx.AsyncClient, path: str, body: dict[str, Any], token: str | None = None
) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await api.post(path, json=body, headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"POST {path} -> {response.status_code} {response.text[:300]}")
    return response.json()


async def register(api: httpx.AsyncClient, count: int) -> list[Account]:
    """`count` v1 accounts, each with a token (registration and login, many at once)."""
    gate = asyncio.Semaphore(REQUESTS_AT_ONCE)

    async def one(i: int) -> Account:
        login = {"username": f"sock-{i}", "password": PASSWORD}
        async with gate:
            await post(api, "/api/v1/users", login)
            session = await post(api, "/api/v1/auth/tokens", login)
        return Account(int(session["user"]["id"]), str(session["token"]))

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def make_groups(api: httpx.AsyncClient, members: Sequence[Account]) -> list[int]:
    """Chats of GROUP members each, through the Avito API (v1 users are its users too)."""
    groups = [members[i : i + GROUP] for i in range(0, len(members), GROUP)]
    gate = asyncio.Semaphore(REQUESTS_AT_ONCE)

    async def one(k: int, group: Sequence[Account]) -> int:
        async with gate:
            body = {"name": f"group-{k}", "users": [a.id for a in group]}
            return int((await post(api, "/chats/add", body))["id"])

    return list(await asyncio.gather(*(one(k, g) for k, g in enumerate(groups))))


@dataclass(frozen=True)
class Opened:
    ready: int
    failures: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class Status:
    open: int
    closed: dict[str, int]  # close code (or error) -> streams the server ended


@dataclass
class _Worker:
    streams: dict[int, ClientConnection] = field(default_factory=dict)  # user -> stream
    readers: set[asyncio.Task[None]] = field(default_factory=set)
    arrivals: list[Arrival] = field(default_factory=list)
    created: Counter[int] = field(default_factory=Counter)  # chat -> chat.created frames
    closed: Counter[str] = field(default_factory=Counter)
    dropped: set[int] = field(default_factory=set)  # users whose stream we closed ourselves

    async def open(self, url: str, tokens: Sequence[str]) -> Opened:
        started = time.monotonic()
        gate = asyncio.Semaphore(OPENING_AT_ONCE)
        failures: list[str] = []

        async def one(token: str) -> None:
            async with gate:
                try:
                    await self._open_one(url, token)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one(t) for t in tokens))
        return Opened(len(tokens) - len(failures), tuple(failures[:5]), time.monotonic() - started)

    async def _open_one(self, url: str, token: str) -> None:
        stream = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            proxy=None,
            ping_interval=None,  # the server pings; websockets answers without us
            open_timeout=OPEN_TIMEOUT,
            max_size=None,
        )
        ready = orjson.loads(await asyncio.wait_for(stream.recv(), OPEN_TIMEOUT))
        if ready.get("type") != "ready":
            await stream.close()
            raise RuntimeError(f"expected ready, got {ready}")
        user = int(ready["user"])
        self.streams[user] = stream
        reader = asyncio.create_task(self._read(user, stream))
        self.readers.add(reader)
        reader.add_done_callback(self.readers.discard)

    async def _read(self, user: int, stream: ClientConnection) -> None:
        try:
            async for raw in stream:
                now = time.time()
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "message.created":
                    self.arrivals.append((user, str(frame["message"]["text"]), now))
                elif kind == "chat.created":
                    self.created[int(frame["chat"]["id"])] += 1
        except ConnectionClosed:
            pass
        finally:
            if self.streams.pop(user, None) is not None and user not in self.dropped:
                code = stream.close_code
                self.closed["no close frame" if code is None else str(code)] += 1

    async def keep(self, users: set[int]) -> int:
        going = [(u, s) for u, s in self.streams.items() if u not in users]
        self.dropped.update(u for u, _ in going)
        await asyncio.gather(*(s.close() for _, s in going), return_exceptions=True)
        return len(going)

    def take_arrivals(self, prefix: str) -> list[Arrival]:
        taken = [a for a in self.arrivals if a[1].startswith(prefix)]
        self.arrivals = [a for a in self.arrivals if not a[1].startswith(prefix)]
        return taken

    def status(self) -> Status:
        return Status(len(self.streams), dict(self.closed))

    async def handle(self, command: tuple[Any, ...]) -> Any:
        match command:
            case ("open", str(url), list(tokens)):
                return await self.open(url, tokens)
            case ("keep", list(users)):
                return await self.keep(set(users))
            case ("created", int(chat)):
                return self.created[chat]
            case ("arrivals", str(prefix)):
                return self.take_arrivals(prefix)
            case ("status",):
                return self.status()
        raise ValueError(f"unknown command {command!r}")


async def _serve(conn: Connection) -> None:
    worker = _Worker()
    loop = asyncio.get_running_loop()
    while True:
        # The pipe is read on a thread: the streams' readers keep running meanwhile.
        command = await loop.run_in_executor(None, conn.recv)
        if command == ("stop",):
            return
        try:
            conn.send(("ok", await worker.handle(command)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _main(conn: Connection) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(conn))


class Clients:
    """`count` worker processes; each command goes to all of them and waits for every answer."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no event loop or sockets inherited
        self._pipes: list[Connection] = []
        self._processes: list[BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_main, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            self._pipes.append(ours)
            self._processes.append(process)

    @property
    def count(self) -> int:
        return len(self._pipes)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def ask(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Sends commands[i] to worker i, then collects every answer."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        answers = []
        for pipe in self._pipes:
            outcome, value = pipe.recv()
            if outcome != "ok":
                raise RuntimeError(f"a stream worker failed: {value}")
            answers.append(value)
        return answers

    def ask_all(self, *command: Any) -> list[Any]:
        return self.ask([command] * self.count)

    def open(self, url: str, tokens: Sequence[str]) -> list[Opened]:
        """Opens the streams, dealt round-robin over the workers, all of them at once."""
        shares = [list(tokens[i :: self.count]) for i in range(self.count)]
        return self.ask([("open", url, share) for share in shares])

    def status(self) -> Status:
        answers: list[Status] = self.ask_all("status")
        closed: Counter[str] = Counter()
        for answer in answers:
            closed.update(answer.closed)
        return Status(sum(a.open for a in answers), dict(closed))

    def arrivals(self, prefix: str) -> list[Arrival]:
        return [a for answer in self.ask_all("arrivals", prefix) for a in answer]

    def stop(self) -> None:
        """Asks each worker to exit, then stops the ones still there by their PID."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for pipe in self._pipes:
            pipe.close()

    def wait_for_chat(self, chat: int, members: int, timeout: float = 60.0) -> int:
        """Until every member's stream received chat.created; how many did."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            seen = sum(self.ask_all("created", chat))
            if seen >= members:
                break
            time.sleep(0.25)
        time.sleep(1.0)  # the sessions subscribe to the chat's topic right after
        return seen


def percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class FanOut:
    latencies_ms: list[float]  # sorted, one per (message, receiver) that arrived
    expected: int
    post_ms: list[float]  # the sender's POST round trips

    def summary(self) -> dict[str, float | int]:
        lat = self.latencies_ms or [math.nan]
        return {
            "p50_ms": round(percentile(lat, 0.5), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(lat[-1], 2),
            "received": len(self.latencies_ms),
            "expected": self.expected,
            "post_p50_ms": round(percentile(sorted(self.post_ms), 0.5), 2),
        }


async def fan_out(
    api: httpx.AsyncClient,
    clients: Clients,
    chat: int,
    sender: Account,
    receivers: int,
    schedule: tuple[int, float],
    label: str,
    settle: float = 30.0,
) -> FanOut:
    """Sends `count` messages into the chat, one every `interval` s (a fixed schedule: a slow
    POST does not lower the rate); times every member's receipt, waiting `settle` s at most."""
    count, interval = schedule
    sent: dict[str, float] = {}
    post_ms = []
    started = time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i * interval - time.monotonic()))
        text = f"{label} {i}"
        at = time.time()
        await post(api, f"/api/v1/chats/{chat}/messages", {"text": text}, sender.token)
        post_ms.append((time.time() - at) * 1e3)
        sent[text] = at
    expected = count * receivers
    arrivals: list[Arrival] = []
    deadline = time.monotonic() + settle
    while len(arrivals) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        arrivals += await asyncio.to_thread(clients.arrivals, label)
    latencies = sorted((t - sent[text]) * 1e3 for _user, text, t in arrivals if text in sent)
    return FanOut(latencies, expected, post_ms)
