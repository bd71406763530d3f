"""The real server process: serves, survives restarts and kill -9 without losing acknowledged
writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.server import CHATD, ServerProcess

pytestmark = pytest.mark.e2e


def _seed(url: str) -> tuple[int, int, int]:
    with httpx.Client(base_url=url) as http:
        alice = http.post("/users/add", json={"username": "alice"}).json()["id"]
        bob = http.post("/users/add", json={"username": "bob"}).json()["id"]
        chat = http.post("/chats/add", json={"name": "general", "users": [alice, bob]})
        assert chat.status_code == 201
        return alice, bob, chat.json()["id"]


def test_data_survives_a_clean_restart(server: ServerProcess) -> None:
    alice, bob, chat = _seed(server.url)
    with httpx.Client(base_url=server.url) as http:
        sent = http.post("/messages/add", json={"chat": chat, "author": bob, "text": "still here?"})
        assert sent.status_code == 201
    server.stop()
    server.start()
    with httpx.Client(base_url=server.url) as http:
        chats = http.post("/chats/get", json={"user": alice}).json()
        assert [(c["id"], c["users"]) for c in chats] == [(chat, [alice, bob])]
        history = http.post("/messages/get", json={"chat": chat}).json()
        assert [(m["id"], m["text"]) for m in history] == [(sent.json()["id"], "still here?")]
        again = http.post("/users/add", json={"username": "ALICE"})
        assert again.status_code == 409


async def _send_concurrently(url: str, chat: int, author: int, count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def send(i: int) -> int:
            body = {"chat": chat, "author": author, "text": f"message {i}"}
            response = await http.post("/messages/add", json=body)
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

        return list(await asyncio.gather(*(send(i) for i in range(count))))


def test_acknowledged_messages_survive_kill_9(server: ServerProcess) -> None:
    alice, _bob, chat = _seed(server.url)
    acknowledged = asyncio.run(_send_concurrently(server.url, chat, alice, 200))
    server.kill()
    server.start()
    with httpx.Client(base_url=server.url) as http:
        history = http.post("/messages/get", json={"chat": chat}).json()
    assert sorted(m["id"] for m in history) == sorted(acknowledged)
    assert [m["id"] for m in history] == sorted(acknowledged)


def test_serve_creates_the_sqlite_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "chatd.db"
    server = ServerProcess(f"sqlite:///{path}", tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.url) as http:
            assert http.post("/users/add", json={"username": "x"}).status_code == 201
    finally:
        server.kill()
    assert path.is_file()


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    done = subprocess.run([str(CHATD), "migrate", "--database-url", f"sqlite:///{path}"])
    assert done.returncode == 0
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"users", "chats", "chat_members", "messages", "alembic_version"} <= tables


def test_a_bad_setting_is_refused_with_the_variable_named(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CHATD), "migrate"],
        env={**os.environ, "CHATD_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "CHATD_PORT": "x"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "CHATD_PORT" in done.stderr


def test_an_unsupported_database_url_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CHATD), "migrate", "--database-url", "mysql://localhost/chatd"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "unsupported database URL" in done.stderr


async def _load_until_killed(server: ServerProcess, chat: int, author: int) -> dict[int, str]:
    """64 clients sending as fast as they can (so writes commit in groups) until the server is
    killed with SIGKILL mid-load; the messages it acknowledged, by id."""
    acknowledged: dict[int, str] = {}
    enough = asyncio.Event()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:

        async def client(c: int) -> None:
            for i in range(10_000):
                text = f"client {c} message {i}"
                try:
                    response = await http.post(
                        "/messages/add", json={"chat": chat, "author": author, "text": text}
                    )
                except httpx.TransportError:
                    return  # the server is gone: this send's fate is unknown, not acknowledged
                assert response.status_code == 201, response.text
                acknowledged[int(response.json()["id"])] = text
                if len(acknowledged) >= 300:
                    enough.set()

        clients = [asyncio.ensure_future(client(c)) for c in range(64)]
        await enough.wait()
        server.kill()  # mid-load: sends in flight, a group being committed
        await asyncio.gather(*clients)
    return acknowledged


def test_every_acknowledged_message_survives_kill_9_during_group_commits_exactly_once(
    server: ServerProcess,
) -> None:
    alice, _bob, chat = _seed(server.url)
    acknowledged = asyncio.run(_load_until_killed(server, chat, alice))
    server.start()
    with httpx.Client(base_url=server.url) as http:
        history = http.post("/messages/get", json={"chat": chat}).json()
    stored = {m["id"]: m["text"] for m in history}
    assert len(stored) == len(history)  # no id twice
    assert len(set(stored.values())) == len(stored)  # no text twice: no send stored twice
    missing = {i: t for i, t in acknowledged.items() if stored.get(i) != t}
    assert missing == {}, f"{len(missing)} acknowledged messages were lost"
    # Sends in flight at the kill may or may not have been committed, never half of one.
    assert _stored_seqs(server, chat) == list(range(1, len(history) + 1))


def _stored_seqs(server: ServerProcess, chat: int) -> list[int]:
    """The chat's seqs as stored: gap-free means no send was half-written."""
    query = "SELECT seq FROM messages WHERE chat_id = ? ORDER BY seq"
    if server.database_url.startswith("sqlite"):
        path = server.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            return [row[0] for row in conn.execute(query, (chat,))]

    async def fetch() -> list[int]:
        conn = await asyncpg.connect(server.database_url)
        try:
            return [row["seq"] for row in await conn.fetch(query.replace("?", "$1"), chat)]
        finally:
            await conn.close()

    return asyncio.run(fetch())
