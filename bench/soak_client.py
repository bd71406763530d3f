"""The load side of bench.soak: worker processes, each with a share of the HTTP connections (one
actor per connection: a v1 user with a token) and of the same users' WebSocket streams.

A worker is driven over a pipe: it receives a Job, opens its streams and HTTP connections and
answers how many streams opened; given a stop time (time.time()) it runs its actors until then,
lets the streams drain, closes them and answers its Tally. Everything it saw that was wrong is
an entry of `Tally.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.sockets_client import PASSWORD, Opened, _Worker

V1 = "/api/v1"
REQUEST_TIMEOUT = 30.0
SLOW_MS = 1000.0  # requests this slow are listed with the second they started in
DRAIN_SECONDS = 5.0  # after the last request, for the streams to receive what it caused
WORDS = ("the", "a", "lunch", "meeting", "today", "ok", "sure", "later", "ship", "it", "looks",
         "good", "to", "me", "why", "not", "tomorrow", "ünïcödé", "👍")  # fmt: skip


@dataclass(frozen=True)
class Member:
    id: int
    token: str
    group: int  # the chat of GROUP members it sends into; its stream must hear every message
    peers: tuple[int, ...]  # the other members of that chat


@dataclass(frozen=True)
class Job:
    host: str
    port: int
    ws_url: str
    members: tuple[Member, ...]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # op -> ms
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # kind, op, detail
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)  # a body for each
    sent: dict[int, set[int]] = field(default_factory=dict)  # group -> message ids
    heard: dict[int, set[int]] = field(default_factory=dict)  # user -> ids its stream heard
    frames: Counter[str] = field(default_factory=Counter)  # event type -> frames
    slow: list[tuple[float, str, float]] = field(default_factory=list)  # started, op, ms
    streams_open: int = 0

    def error(self, kind: str, op: str, detail: str, example: str = "") -> None:
        key = (kind, op, detail)
        self.errors[key] += 1
        self.examples.setdefault(key, example)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Http:
    """One keep-alive HTTP/1.1 connection. A few lines instead of httpx, whose CPU per request
    would take a share of the 2 cores from the server under test."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, headers: tuple[str, ...] = ()
    ) -> Reply:
        if self._writer is None:
            await self.connect()
        assert self._writer is not None
        payload = b"" if body is None else orjson.dumps(body)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", *headers]
        head.append(f"Content-Length: {len(payload)}")
        if body is not None:
            head.append("Content-Type: application/json")
        self._writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
        try:
            return await asyncio.wait_for(self._read(), REQUEST_TIMEOUT)
        except BaseException:
            self.close()  # the next request starts on a new connection
            raise

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def _read(self) -> Reply:
        assert self._reader is not None
        head = (await self._reader.readuntil(b"\r\n\r\n"))[:-4].decode("latin-1")
        status_line, *lines = head.split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = await self._chunks(self._reader)
        else:
            body = b""  # 204
        if headers.get("connection") == "close":
            self.close()
        return Reply(int(status_line.split(" ", 2)[1]), headers, body)

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readexactly(2)  # the empty trailer
        return b"".join(parts)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Actor:
    """One connection's user: picks an operation by weight, sends it, checks the status."""

    def __init__(self, http: Http, me: Member, tally: Tally) -> None:
        self.http, self.me, self.tally = http, me, tally
        self.rng = random.Random(me.id)
        self.auth = f"Authorization: Bearer {me.token}"
        self.own: list[int] = []  # my messages in my group, not deleted: to edit and delete
        self.last_seq = 0  # the newest seq of my group I know of, to mark read
        self.cursor: int | None = None  # the history walk, from the newest page back
        self.serial = itertools.count()

    async def connect(self) -> None:
        """Connected and answered once before the start, as the streams are: a busy server
        accepts one connection per turn of its event loop (libuv), so 200 new ones at the start
        would wait seconds to be accepted (docs/reliability.md)."""
        try:
            reply = await self.http.request("GET", f"{V1}/me", None, (self.auth,))
        except Exception as exc:
            self.tally.error("transport error", "connect", type(exc).__name__, str(exc)[:200])
            return
        if reply.status != 200:
            self.tally.error("unexpected status", "connect", str(reply.status), repr(reply)[:300])

    async def run(self, stop_at: float) -> None:
        while time.time() < stop_at:
            await self.rng.choices(ACTIONS, WEIGHTS)[0](self)

    async def call(
        self, op: str, method: str, path: str, body: Any = None, expect: int = 200, *extra: str
    ) -> Reply | None:
        headers = (self.auth, *extra) if path.startswith(V1) else extra
        started, at = time.perf_counter(), time.time()
        try:
            reply = await self.http.request(method, path, body, headers)
        except Exception as exc:
            self.tally.error("transport error", op, type(exc).__name__, str(exc)[:200])
            await asyncio.sleep(0.1)  # a client's backoff: no busy loop on a server that is gone
            return None
        ms = (time.perf_counter() - started) * 1e3
        self.tally.latencies.setdefault(op, []).append(ms)
        if ms >= SLOW_MS:
            self.tally.slow.append((at, op, ms))
        if reply.status != expect:
            kind = "5xx" if reply.status >= 500 else "unexpected status"
            detail = f"{reply.status} (expected {expect})"
            self.tally.error(kind, op, detail, f"{method} {path} {body} -> {reply.body[:300]!r}")
            return None
        return reply

    def text(self) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(2, 30)))

    def unique(self, kind: str) -> str:
        return f"soak-{kind}-{self.me.id}-{next(self.serial)}"

    def keep(self, message_id: int, seq: int = 0) -> None:
        self.tally.sent.setdefault(self.me.group, set()).add(message_id)
        self.own = [*self.own[-99:], message_id]
        self.last_seq = max(self.last_seq, seq)

    async def v1_send(self) -> None:
        path = f"{V1}/chats/{self.me.group}/messages"
        if reply := await self.call("v1 send", "POST", path, {"text": self.text()}, 201):
            message = orjson.loads(reply.body)
            self.keep(message["id"], message["seq"])

    async def v1_idempotent_send(self) -> None:
        """A send retried with its Idempotency-Key, as a client does after a lost answer."""
        path, body = f"{V1}/chats/{self.me.group}/messages", {"text": self.text()}
        key = f"Idempotency-Key: {self.unique('key')}"
        if not (first := await self.call("v1 idempotent send", "POST", path, body, 201, key)):
            return
        if not (again := await self.call("v1 idempotent retry", "POST", path, body, 201, key)):
            return
        message = orjson.loads(first.body)
        if (
            again.headers.get("idempotent-replayed") != "true"
            or orjson.loads(again.body) != message
        ):
            self.tally.error("not replayed", "v1 idempotent retry", "", repr(again)[:300])
        self.keep(message["id"], message["seq"])

    async def v1_private_send(self) -> None:
        path = f"{V1}/direct/{self.rng.choice(self.me.peers)}/messages"
        await self.call("v1 private send", "POST", path, {"text": self.text()}, 201)

    async def v1_history_page(self) -> None:
        before = "" if self.cursor is None else f"&before_seq={self.cursor}"
        path = f"{V1}/chats/{self.me.group}/messages?limit=50{before}"
        if reply := await self.call("v1 history page", "GET", path):
            page = orjson.loads(reply.body)
            self.cursor = page["before_seq"]  # None at the oldest: the next walk starts again
            self.last_seq = max(self.last_seq, page["after_seq"])

    async def v1_list_chats(self) -> None:
        await self.call("v1 list chats", "GET", f"{V1}/chats?limit=20")

    async def v1_mark_read(self) -> None:
        body = {"seq": self.last_seq}
        await self.call("v1 mark read", "POST", f"{V1}/chats/{self.me.group}/read", body)

    async def v1_edit(self) -> None:
        if not self.own:
            return await self.v1_send()
        body = {"text": self.text()}
        await self.call("v1 edit", "PATCH", f"{V1}/messages/{self.rng.choice(self.own)}", body)

    async def v1_delete(self) -> None:
        if not self.own:
            return await self.v1_send()
        message = self.own.pop(self.rng.randrange(len(self.own)))
        await self.call("v1 delete", "DELETE", f"{V1}/messages/{message}", None, 204)

    async def v1_create_group(self) -> None:
        body = {"name": self.unique("group"), "users": self.rng.sample(self.me.peers, 2)}
        await self.call("v1 create group", "POST", f"{V1}/chats", body, 201)

    async def v1_register_login(self) -> None:
        login = {"username": self.unique("user"), "password": PASSWORD}
        if await self.call("v1 register", "POST", f"{V1}/users", login, 201):
            await self.call("v1 login", "POST", f"{V1}/auth/tokens", login, 201)

    async def avito_users_add(self) -> None:
        await self.call(
            "avito users/add", "POST", "/users/add", {"username": self.unique("av")}, 201
        )

    async def avito_chats_add(self) -> None:
        body = {"name": self.unique("chat"), "users": [self.me.id, self.rng.choice(self.me.peers)]}
        await self.call("avito chats/add", "POST", "/chats/add", body, 201)

    async def avito_messages_add(self) -> None:
        body = {"chat": self.me.group, "author": self.me.id, "text": self.text()}
        if reply := await self.call("avito messages/add", "POST", "/messages/add", body, 201):
            self.keep(orjson.loads(reply.body)["id"])

    async def avito_chats_get(self) -> None:
        await self.call("avito chats/get", "POST", "/chats/get", {"user": self.me.id})

    async def avito_messages_get(self) -> None:
        body: dict[str, int] = {"chat": self.me.group, "limit": 50}
        if self.own and self.rng.random() < 0.3:
            body["before"] = self.rng.choice(self.own)  # an older page
        await self.call("avito messages/get", "POST", "/messages/get", body)


# Reads outnumber writes about 3 to 2, as in a chat where a message is read by several members;
# every read of a chat moves a read marker. Accounts and chats are made rarely.
MIX: tuple[tuple[Callable[[Actor], Awaitable[None]], float], ...] = (
    (Actor.v1_send, 15),
    (Actor.v1_idempotent_send, 3),
    (Actor.v1_private_send, 4),
    (Actor.v1_history_page, 14),
    (Actor.v1_list_chats, 10),
    (Actor.v1_mark_read, 12),
    (Actor.v1_edit, 3),
    (Actor.v1_delete, 2),
    (Actor.v1_create_group, 0.5),
    (Actor.v1_register_login, 0.05),
    (Actor.avito_users_add, 0.5),
    (Actor.avito_chats_add, 0.5),
    (Actor.avito_messages_add, 10),
    (Actor.avito_chats_get, 10),
    (Actor.avito_messages_get, 15),
)
ACTIONS, WEIGHTS = [a for a, _ in MIX], [w for _, w in MIX]


@dataclass
class _Streams(_Worker):
    """bench.sockets' stream worker, reading every frame: its type, its pos (strictly increasing
    on each stream) and the message.created ids of the stream's group."""

    groups: dict[int, int] = field(default_factory=dict)  # user -> group
    tally: Tally = field(default_factory=Tally)

    async def _read(self, user: int, stream: ClientConnection) -> None:
        last = -1
        try:
            async for raw in stream:
                frame = orjson.loads(raw)
                kind = str(frame.get("type"))
                self.tally.frames[kind] += 1
                pos = frame.get("pos")
                if pos is not None:
                    if pos <= last:
                        self.tally.error("ws out of order", kind, "", f"pos {pos} after {last}")
                    last = pos
                message = frame.get("message") or {}
                if kind == "message.created" and message.get("chat") == self.groups.get(user):
                    self.tally.heard.setdefault(user, set()).add(int(message["id"]))
        except ConnectionClosed:
            pass
        except Exception as exc:
            self.tally.error("ws reader failed", "stream", type(exc).__name__, str(exc)[:200])
        finally:
            if self.streams.pop(user, None) is not None and user not in self.dropped:
                code = stream.close_code
                self.closed["no close frame" if code is None else str(code)] += 1


async def _work(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    job: Job = await loop.run_in_executor(None, conn.recv)
    tally = Tally()
    streams = _Streams(groups={m.id: m.group for m in job.members}, tally=tally)
    opened: Opened = await streams.open(job.ws_url, [m.token for m in job.members])
    actors = [Actor(Http(job.host, job.port), m, tally) for m in job.members]
    await asyncio.gather(*(a.connect() for a in actors))
    conn.send(opened)
    stop_at: float = await loop.run_in_executor(None, conn.recv)
    await asyncio.gather(*(a.run(stop_at) for a in actors))
    for actor in actors:
        actor.http.close()
    await asyncio.sleep(DRAIN_SECONDS)
    status = streams.status()
    tally.streams_open = status.open
    for code, count in status.closed.items():
        tally.errors["ws closed by the server", "stream", f"close code {code}"] += count
    await streams.keep(set())  # the end of the run: our closes are not counted
    conn.send(tally)


def work(conn: Connection) -> None:
    """A worker process's entry point."""
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_work(conn))
