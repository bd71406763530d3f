"""An idempotent write and the record of its reply commit together: a retry finds either the
committed reply or nothing written, however slow the first attempt and whatever fails."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from chatd.core import clock
from tests.api.v1_helpers import Api, User, create_chat, sign_up

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER fail_reply_{op} BEFORE {op} ON idempotency_keys
        WHEN NEW.status_code IS NOT NULL AND NEW.key = 'doomed'
        BEGIN SELECT RAISE(ABORT, 'recording the reply failed'); END"""
    for op in ("INSERT", "UPDATE")
]
PG_TRIGGER = [
    """CREATE FUNCTION fail_reply() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.status_code IS NOT NULL AND NEW.key = 'doomed' THEN
           RAISE EXCEPTION 'recording the reply failed';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER fail_reply BEFORE INSERT OR UPDATE ON idempotency_keys
       FOR EACH ROW EXECUTE FUNCTION fail_reply()""",
]
PG_DROP = ["DROP TRIGGER fail_reply ON idempotency_keys", "DROP FUNCTION fail_reply()"]


async def _messages_in(api: Api, chat: int) -> list[str]:
    rows = await api.rows("SELECT text FROM messages WHERE chat_id = :c ORDER BY seq", c=chat)
    return [row[0] for row in rows]


@asynccontextmanager
async def _writes_held(api: Api, chat: int) -> AsyncIterator[None]:
    """Holds what a send needs from another connection: the chat's row on PostgreSQL, the
    database's write lock on SQLite. Sends wait until the block ends."""
    url = api.app.state.settings.database_url
    if url.startswith("postgresql"):
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE", chat)
                yield
        finally:
            await conn.close()
        return
    blocker = sqlite3.connect(sa.make_url(url).database or "", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield
        blocker.execute("COMMIT")
    finally:
        blocker.close()


@contextmanager
def _clock_moved(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> Iterator[None]:
    real = clock.now

    def later() -> datetime:
        return real() + by

    monkeypatch.setattr(clock, "now", later)
    yield
    monkeypatch.setattr(clock, "now", real)


async def test_a_retry_of_a_request_still_running_long_after_does_not_send_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "room"))["id"]
    headers = {**alice.auth, "Idempotency-Key": "slow"}
    url = f"/api/v1/chats/{chat}/messages"
    async with _writes_held(api, chat):
        first = asyncio.ensure_future(api.http.post(url, json={"text": "once"}, headers=headers))
        await asyncio.sleep(0.2)  # the first attempt is waiting in its write
        with _clock_moved(monkeypatch, timedelta(minutes=5)):
            retry = asyncio.ensure_future(
                api.http.post(url, json={"text": "once"}, headers=headers)
            )
            await asyncio.sleep(0.2)
    answers = [await first, await retry]
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert await _messages_in(api, chat) == ["once"]


async def _install_failing_record(api: Api) -> None:
    url = api.app.state.settings.database_url
    for statement in PG_TRIGGER if url.startswith("postgresql") else SQLITE_TRIGGERS:
        await api.execute(sa.text(statement))


async def _remove_failing_record(api: Api) -> None:
    url = api.app.state.settings.database_url
    if url.startswith("postgresql"):
        statements = PG_DROP
    else:
        statements = [f"DROP TRIGGER fail_reply_{op}" for op in ("INSERT", "UPDATE")]
    for statement in statements:
        await api.execute(sa.text(statement))


async def _post(api: Api, user: User, url: str, key: str, text: str) -> httpx.Response:
    # A server fault is a 500 here, as a client sees it, rather than an exception in the test.
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://chatd") as http:
        headers = {**user.auth, "Idempotency-Key": key}
        return await http.post(url, json={"text": text}, headers=headers)


async def test_a_failure_to_record_the_reply_undoes_the_write(api: Api) -> None:
    alice = await sign_up(api.http, "alice")
    chat = (await create_chat(api.http, alice, "room"))["id"]
    url = f"/api/v1/chats/{chat}/messages"
    await _install_failing_record(api)
    try:
        failed = await _post(api, alice, url, "doomed", "hello")
        assert failed.status_code == 500, failed.text
        assert await _messages_in(api, chat) == []
    finally:
        await _remove_failing_record(api)
    retried = await _post(api, alice, url, "doomed", "hello")
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    replayed = await _post(api, alice, url, "doomed", "hello")
    assert replayed.json() == retried.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert await _messages_in(api, chat) == ["hello"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PATCH", "/api/v1/chats/{chat}", {"name": "renamed"}, 200),
        ("POST", "/api/v1/chats/{chat}/read", {"seq": 1}, 200),
        ("POST", "/api/v1/direct/{bob}/messages", {"text": "psst"}, 201),
        ("PATCH", "/api/v1/messages/{message}", {"text": "edited"}, 200),
        ("DELETE", "/api/v1/messages/{message}", None, 204),
        ("POST", "/api/v1/chats/{chat}/leave", None, 204),
        ("DELETE", "/api/v1/chats/{chat}", None, 204),
    ],
)
async def test_every_write_replays_the_reply_recorded_with_it(
    api: Api, method: str, path: str, body: dict[str, object] | None, status: int
) -> None:
    alice = await sign_up(api.http, "alice")
    bob = await sign_up(api.http, "bob")
    chat = (await create_chat(api.http, alice, "room", [bob]))["id"]
    sent = await api.http.post(
        f"/api/v1/chats/{chat}/messages", json={"text": "x"}, headers=alice.auth
    )
    url = path.format(chat=chat, bob=bob.id, message=sent.json()["id"])
    headers = {**alice.auth, "Idempotency-Key": "k"}
    first, again = [
        await api.http.request(method, url, json=body, headers=headers) for _ in range(2)
    ]
    assert first.status_code == again.status_code == status, (first.text, again.text)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    recorded = await api.rows("SELECT status_code, body FROM idempotency_keys WHERE key = 'k'")
    assert [(row[0], bytes(row[1])) for row in recorded] == [(status, first.content)]
