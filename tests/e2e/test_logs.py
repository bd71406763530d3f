"""What `chatd serve` logs: one line at start, one line per HTTP request with its request id, in
either format, and no secret.

The walk below uses every way a password or a token reaches chatd (registration, login, bearer
calls, a stream's header and first frame, idempotent writes, the Avito API and its key, logging
out), then reads the whole of the server's output, stdout and stderr, for each of them.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from chatd import __version__
from chatd.config import Settings
from chatd.storage import migrate
from tests.api.helpers import app_client
from tests.e2e.server import CHATD
from tests.pgcluster import PgCluster, free_port

pytestmark = pytest.mark.e2e

DB_PASSWORD = "db-password-never-logged"
BROKER_PASSWORD = "broker-password-never-logged"
AVITO_KEY = "avito-key-never-logged-0123456789"
PASSWORDS = {
    "alice": "alice-password-never-logged",
    "bob": "bob-password-never-logged",
}
# Sent by the walk, and never to be written: with the tokens the server hands out.
SECRETS = (
    DB_PASSWORD,
    BROKER_PASSWORD,
    AVITO_KEY,
    *PASSWORDS.values(),
    "wrong-password-never-logged",
    "wrong-avito-key-never-logged",
    "forged-token-never-logged",
    "query-secret-never-logged",
)
STARTUP_ID = "startup-poll"  # the fixture's requests while it waits for the server
# The text format's access line (api/access_log.py), after cli.py's "<time> INFO chatd.access: "
TEXT_ACCESS = re.compile(
    r"INFO chatd\.access: ([A-Z]+) (\S+) (\d{3}|-) (\d+\.\d\d)ms request_id=(\S+)$"
)
_databases = itertools.count(1)


def test_version_is_printed() -> None:
    result = subprocess.run([str(CHATD), "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"chatd {__version__}\n"


@dataclass
class Logged:
    base: str
    log_path: Path
    log_format: str

    def text(self) -> str:
        time.sleep(0.2)  # each line is flushed as it is logged; the last may be a moment behind
        return self.log_path.read_text()


@pytest.fixture(params=["text", "json"])
def logged_server(
    request: pytest.FixtureRequest, pg_cluster: PgCluster, tmp_path: Path
) -> Iterator[Logged]:
    """`chatd serve` at the info level on PostgreSQL in the given log format, with passwords in
    both URLs (the test cluster trusts every local login, so any password works)."""
    name = f"logs_{next(_databases)}"
    pg_cluster.psql(f"CREATE DATABASE {name}")
    place = f"127.0.0.1:{pg_cluster.port}/{name}"
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    env |= {
        "CHATD_LOG_LEVEL": "info",
        "CHATD_LOG_FORMAT": request.param,
        "CHATD_ARGON2_PROFILE": "CHEAPEST",
        "CHATD_DATABASE_URL": f"postgresql://postgres:{DB_PASSWORD}@{place}",
        "CHATD_BROKER_URL": f"postgresql://postgres:{BROKER_PASSWORD}@{place}",
        "CHATD_AVITO_API": "key",
        "CHATD_AVITO_API_KEY": AVITO_KEY,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CHATD), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(f"{base}/healthz", headers={"X-Request-ID": STARTUP_ID}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
        yield Logged(base, log_path, request.param)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@dataclass(frozen=True)
class Sent:
    method: str
    route: str  # the template the access line must name
    status: int
    request_id: str  # as the response's X-Request-ID said


@dataclass
class Walk:
    """An HTTP client that notes each request and the request id it got back. Every other
    request sends an id of its own; the others let the server make one."""

    http: httpx.Client
    sent: list[Sent] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def call(self, method: str, path: str, route: str, status: int, **kwargs: Any) -> Any:
        n = next(self._ids)
        headers = dict(kwargs.pop("headers", {}))
        own = f"walk-{n}" if n % 2 else None
        if own is not None:
            headers["X-Request-ID"] = own
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        got = response.headers["X-Request-ID"]
        assert got == own if own is not None else re.fullmatch(r"[0-9a-f]{32}", got), got
        self.sent.append(Sent(method, route, status, got))
        return response.json() if response.content else None

    def log_in(self, username: str) -> dict[str, str]:
        login = {"username": username, "password": PASSWORDS[username]}
        token = self.call("POST", "/api/v1/auth/tokens", "/api/v1/auth/tokens", 201, json=login)
        self.tokens.append(token["token"])
        return {"Authorization": f"Bearer {token['token']}"}


def _walk(base: str) -> Walk:
    """Every way a secret reaches the server, through both APIs and the stream."""
    walk = Walk(httpx.Client(base_url=base, timeout=10))
    users = "/api/v1/users"
    for name, password in PASSWORDS.items():
        walk.call("POST", users, users, 201, json={"username": name, "password": password})
    alice, bob = walk.log_in("alice"), walk.log_in("bob")
    wrong = {"username": "alice", "password": "wrong-password-never-logged"}
    walk.call("POST", "/api/v1/auth/tokens", "/api/v1/auth/tokens", 401, json=wrong)
    bob_id = walk.call("GET", "/api/v1/me", "/api/v1/me", 200, headers=bob)["id"]
    forged = {"Authorization": "Bearer forged-token-never-logged"}
    query = "/api/v1/me?token=query-secret-never-logged"
    walk.call("GET", query, "/api/v1/me", 401, headers=forged)

    # Idempotent writes, one of them replayed.
    new_chat = {"name": "walk", "users": [bob_id]}
    keyed = {**alice, "Idempotency-Key": "chat-1"}
    chats = "/api/v1/chats"
    chat = walk.call("POST", chats, chats, 201, json=new_chat, headers=keyed)["id"]
    assert walk.call("POST", chats, chats, 201, json=new_chat, headers=keyed)["id"] == chat
    one_chat = "/api/v1/chats/{chat_id}"
    walk.call("HEAD", f"/api/v1/chats/{chat}", one_chat, 200, headers=alice)

    # The stream, authenticated by its header and by its first frame, hears a send.
    ws = base.replace("http://", "ws://") + "/api/v1/ws"
    with (
        connect(f"{ws}?pos=0", additional_headers=bob) as by_header,
        connect(f"{ws}?token=query-secret-never-logged") as by_frame,
    ):
        by_frame.send(json.dumps({"type": "auth", "token": walk.tokens[0]}))
        for stream in (by_header, by_frame):
            assert json.loads(stream.recv(timeout=5))["type"] == "ready"
        messages = f"/api/v1/chats/{chat}/messages"
        send = {**alice, "Idempotency-Key": "message-1"}
        sent = walk.call(
            "POST", messages, f"{one_chat}/messages", 201, json={"text": "hi"}, headers=send
        )
        for stream in (by_header, by_frame):
            assert _next_message(stream)["message"]["id"] == sent["id"]
    walk.call("GET", messages, f"{one_chat}/messages", 200, headers=bob)
    edit = {**alice, "Idempotency-Key": "edit-1"}
    path = f"/api/v1/messages/{sent['id']}"
    walk.call(
        "PATCH", path, "/api/v1/messages/{message_id}", 200, json={"text": "ho"}, headers=edit
    )

    _walk_avito(walk)
    walk.call("GET", "/healthz", "/healthz", 200)
    walk.call("GET", "/readyz", "/readyz", 200)
    walk.call("GET", "/no/such/path", "/no/such/path", 404)
    walk.call("GET", "/evil%0Aforged", "/evil\\nforged", 404)  # a line break, percent-encoded

    log_out = {**alice, "Idempotency-Key": "log-out-1"}
    tokens = "/api/v1/auth/tokens/current"
    walk.call("DELETE", tokens, tokens, 204, headers=log_out)
    walk.call("GET", "/api/v1/me", "/api/v1/me", 401, headers=alice)
    walk.http.close()
    return walk


def _next_message(stream: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(stream.recv(timeout=5))
        if frame["type"] == "message.created":
            return frame


def _walk_avito(walk: Walk) -> None:
    key = {"Authorization": f"Bearer {AVITO_KEY}"}
    carol = walk.call("POST", "/users/add", "/users/add", 201, json={"username": "c"}, headers=key)
    dave = walk.call("POST", "/users/add", "/users/add", 201, json={"username": "d"}, headers=key)
    users = [carol["id"], dave["id"]]
    new_chat = {"name": "avito", "users": users}
    chat = walk.call("POST", "/chats/add", "/chats/add", 201, json=new_chat, headers=key)["id"]
    message = {"chat": chat, "author": carol["id"], "text": "hello"}
    walk.call("POST", "/messages/add", "/messages/add", 201, json=message, headers=key)
    walk.call("POST", "/chats/get", "/chats/get", 200, json={"user": carol["id"]}, headers=key)
    walk.call("POST", "/messages/get", "/messages/get", 200, json={"chat": chat}, headers=key)
    walk.call("GET", "/chats/get", "/chats/get", 405, headers=key)  # FastAPI's, not the fast path
    wrong = {"Authorization": "Bearer wrong-avito-key-never-logged"}
    walk.call("POST", "/users/add", "/users/add", 401, json={"username": "e"}, headers=wrong)
    walk.call("POST", "/users/add", "/users/add", 401, json={"username": "e"})


@dataclass(frozen=True)
class AccessLine:
    method: str
    route: str
    status: int | None
    duration_ms: float
    request_id: str


def _access_lines(text: str, log_format: str) -> list[AccessLine]:
    lines = text.splitlines()
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line of the process is JSON
        for record in records:
            assert {"time", "level", "logger", "message"} <= record.keys(), record
        return [
            AccessLine(r["method"], r["route"], r["status"], r["duration_ms"], r["request_id"])
            for r in records
            if r["logger"] == "chatd.access"
        ]
    found = []
    for line in lines:
        if "chatd.access" in line:
            match = TEXT_ACCESS.search(line)
            assert match is not None, line
            method, route, status, duration, rid = match.groups()
            code = None if status == "-" else int(status)
            found.append(AccessLine(method, route, code, float(duration), rid))
    return found


def test_a_full_walk_logs_one_line_per_request_with_its_id_and_no_secret(
    logged_server: Logged,
) -> None:
    walk = _walk(logged_server.base)
    text = logged_server.text()

    for secret in (*SECRETS, *walk.tokens):
        assert secret not in text, secret
    start = _start_line(text, logged_server.log_format)
    assert f"http://127.0.0.1:{logged_server.base.rpartition(':')[2]}" in start
    assert start.count("postgres:***@127.0.0.1") == 2, start  # the database and the broker
    assert "Avito API key" in start

    lines = [a for a in _access_lines(text, logged_server.log_format) if a.request_id != STARTUP_ID]
    # Exactly one line per request, none for the streams, each with the id its response carried.
    assert Counter(a.request_id for a in lines) == Counter(s.request_id for s in walk.sent)
    by_id = {a.request_id: a for a in lines}
    for sent in walk.sent:
        line = by_id[sent.request_id]
        assert (line.method, line.route, line.status) == (sent.method, sent.route, sent.status)
        assert line.duration_ms >= 0
    # The line break was written escaped: it could not start a line of its own.
    assert not any(line.startswith("forged") for line in text.splitlines())


def _start_line(text: str, log_format: str) -> str:
    needle = f"chatd {__version__} listening"
    starts = [line for line in text.splitlines() if needle in line]
    assert len(starts) == 1, text
    if log_format == "json":
        record = json.loads(starts[0])
        assert (record["logger"], record["level"]) == ("chatd", "INFO"), record
        message: str = record["message"]
        return message
    return starts[0]


# In-process: the request id's rules and the log level


async def test_a_sane_request_id_is_kept_and_any_other_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    migrate.upgrade(url)
    kept = ["a", "deploy-check:1/2@host", "x" * 128, "!~"]
    replaced = [b"", b"has space", b"x" * 129, b"tab\there", b"caf\xe9", b"\x7f"]
    async with app_client(Settings(database_url=url)) as client:
        for rid in kept:
            answer = await client.get("/healthz", headers={"X-Request-ID": rid})
            assert answer.headers["X-Request-ID"] == rid
        for insane in replaced:
            answer = await client.get("/healthz", headers={b"X-Request-ID": insane})
            assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"]), insane
        made = {(await client.get("/healthz")).headers["X-Request-ID"] for _ in range(20)}
        assert len(made) == 20
        # Every kind of answer carries it: an error, the fast path, a HEAD, a 405.
        for method, path in (
            ("GET", "/nope"),
            ("POST", "/chats/get"),
            ("HEAD", "/readyz"),
            ("PUT", "/healthz"),
        ):
            answer = await client.request(method, path, json={"user": 1})
            assert "X-Request-ID" in answer.headers, (method, path, answer.status_code)


async def test_the_log_level_decides_whether_requests_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # tests/e2e/server.py runs chatd at warning: no line per request floods those logs.
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    migrate.upgrade(url)
    async with app_client(Settings(database_url=url)) as client:
        with caplog.at_level(logging.WARNING):
            added = await client.post("/users/add", json={"username": "a"})
            assert added.status_code == 201
            assert "X-Request-ID" in added.headers  # the id is given whatever the level
        assert not [r for r in caplog.records if r.name == "chatd.access"]
        with caplog.at_level(logging.INFO):
            refused = await client.get("/chats/get?user=1")
            assert refused.status_code == 405
    lines = [r.getMessage() for r in caplog.records if r.name == "chatd.access"]
    assert len(lines) == 1
    rid = refused.headers["X-Request-ID"]
    assert re.fullmatch(rf"GET /chats/get 405 \d+\.\d\dms request_id={rid}", lines[0]), lines
