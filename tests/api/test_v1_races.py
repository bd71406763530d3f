"""Concurrent writes to one chat end in a right answer: no deadlock surfaces as a 500, membership
changes serialize, and a chat never outlives its last member."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from chatd.config import Settings
from tests.api.v1_helpers import Api, User, create_chat, ok, sign_up_many

ROUNDS = 4
SENDS = 16


async def _send(http: httpx.AsyncClient, author: User, chat: int, text: str) -> httpx.Response:
    return await http.post(
        f"/api/v1/chats/{chat}/messages", json={"text": text}, headers=author.auth
    )


async def _race(*requests: Any) -> list[httpx.Response]:
    return list(await asyncio.gather(*requests))


async def test_sends_racing_a_chat_deletion_end_in_201_or_404(api: Api) -> None:
    owner, *members = await sign_up_many(api.http, "owner", "m1", "m2", "m3")
    for round_ in range(ROUNDS):
        chat = (await create_chat(api.http, owner, f"doomed-{round_}", members))["id"]
        authors = [owner, *members]
        sends = [_send(api.http, authors[i % 4], chat, f"m{i}") for i in range(SENDS)]
        deletion = api.http.delete(f"/api/v1/chats/{chat}", headers=owner.auth)
        *sent, deleted = await _race(*sends[: SENDS // 2], *sends[SENDS // 2 :], deletion)
        assert deleted.status_code == 204, deleted.text
        assert {r.status_code for r in sent} <= {201, 404}, [r.text for r in sent]
        left = await api.scalar("SELECT count(*) FROM messages WHERE chat_id = :c", c=chat)
        assert left == 0
        members_left = await api.scalar(
            "SELECT count(*) FROM chat_members WHERE chat_id = :c", c=chat
        )
        assert members_left == 0


async def test_sends_racing_the_owner_leaving_end_in_201_or_404(api: Api) -> None:
    owner, *members = await sign_up_many(api.http, "owner", "m1", "m2")
    for round_ in range(ROUNDS):
        chat = (await create_chat(api.http, owner, f"handover-{round_}", members))["id"]
        sends = [_send(api.http, [owner, *members][i % 3], chat, f"m{i}") for i in range(SENDS)]
        leaving = api.http.post(f"/api/v1/chats/{chat}/leave", headers=owner.auth)
        *sent, left = await _race(*sends, leaving)
        assert left.status_code == 204, left.text
        assert {r.status_code for r in sent} <= {201, 403, 404}, [r.text for r in sent]
        shown = ok(await api.http.get(f"/api/v1/chats/{chat}", headers=members[0].auth))
        assert owner.id not in shown["users"]
        assert shown["owner"] in {m.id for m in members}
        # Every accepted send is in the history, gap-free.
        accepted = sum(r.status_code == 201 for r in sent)
        assert shown["last_seq"] == accepted


async def test_concurrent_member_updates_both_apply_in_some_order(api: Api) -> None:
    owner, a, b, c = await sign_up_many(api.http, "owner", "a", "b", "c")
    for round_ in range(ROUNDS):
        chat = (await create_chat(api.http, owner, f"crowd-{round_}"))["id"]
        lists = [[owner.id, a.id, b.id], [owner.id, b.id, c.id], [owner.id, a.id, c.id]]
        changes = [
            api.http.patch(f"/api/v1/chats/{chat}", json={"users": users}, headers=owner.auth)
            for users in lists
        ]
        results = await _race(*changes)
        assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
        final = ok(await api.http.get(f"/api/v1/chats/{chat}", headers=owner.auth))["users"]
        assert final in [sorted(users) for users in lists]


async def test_concurrent_renames_to_one_name_name_the_taken_name(api: Api) -> None:
    # Names clash only among chats made through the Avito API, which only moderators rename.
    moderator = (await sign_up_many(api.http, "mod"))[0]
    await api.make_moderator(moderator)
    made = [
        await api.http.post("/chats/add", json={"name": f"room-{i}", "users": [moderator.id]})
        for i in range(4)
    ]
    chats = [ok(response, 201)["id"] for response in made]
    results = await _race(
        *(
            api.http.patch(f"/api/v1/chats/{chat}", json={"name": "lobby"}, headers=moderator.auth)
            for chat in chats
        )
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
    for refused in (r for r in results if r.status_code == 409):
        assert refused.json()["error"]["code"] == "chat_name_taken"
        assert "lobby" in refused.json()["error"]["message"]


async def test_the_last_two_members_leaving_at_once_delete_the_chat(api: Api) -> None:
    owner, other = await sign_up_many(api.http, "owner", "other")
    for round_ in range(ROUNDS * 2):
        chat = (await create_chat(api.http, owner, f"pair-{round_}", [other]))["id"]
        results = await _race(
            *(api.http.post(f"/api/v1/chats/{chat}/leave", headers=u.auth) for u in (owner, other))
        )
        assert [r.status_code for r in results] == [204, 204], [r.text for r in results]
        assert await api.scalar("SELECT count(*) FROM chats WHERE id = :c", c=chat) == 0
        assert await api.scalar("SELECT count(*) FROM chat_members WHERE chat_id = :c", c=chat) == 0


@pytest.fixture
async def pg_session(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A second PostgreSQL session, to hold row locks the way a concurrent send does."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip(
            "SQLite runs one write at a time on one thread: no lock order to get wrong, and a"
            " write sees every write committed before it"
        )
    conn = await asyncpg.connect(settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def _interleave_with_a_send(
    conn: asyncpg.Connection,
    chat: int,
    author: User,
    write: Callable[[], Awaitable[httpx.Response]],
    caplog: pytest.LogCaptureFixture,
) -> httpx.Response:
    """Plays a send's two steps in a transaction of its own (the chat's row, then the author's
    membership row) with the app's `write` started in between. A write that takes the rows the
    other way round deadlocks here every time: PostgreSQL then aborts one of the two, which
    either fails this transaction or shows as the app retrying its write."""
    caplog.set_level(logging.INFO, logger="chatd.storage")
    async with conn.transaction():
        await conn.execute("UPDATE chats SET last_seq = last_seq WHERE id = $1", chat)
        task = asyncio.ensure_future(write())
        await asyncio.sleep(0.3)  # the write goes as far as it can and waits on a lock
        await conn.execute(
            "UPDATE chat_members SET last_read_seq = last_read_seq"
            " WHERE chat_id = $1 AND user_id = $2",
            chat,
            author.id,
        )
    response = await task
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    return response


async def test_a_chat_deletion_takes_the_chat_row_before_its_members(
    api: Api, pg_session: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    owner, member = await sign_up_many(api.http, "owner", "member")
    chat = (await create_chat(api.http, owner, "room", [member]))["id"]

    def delete() -> Awaitable[httpx.Response]:
        return api.http.delete(f"/api/v1/chats/{chat}", headers=owner.auth)

    deleted = await _interleave_with_a_send(pg_session, chat, member, delete, caplog)
    assert deleted.status_code == 204, deleted.text


async def test_an_owner_leaving_takes_the_chat_row_before_their_membership(
    api: Api, pg_session: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    owner, member = await sign_up_many(api.http, "owner", "member")
    chat = (await create_chat(api.http, owner, "room", [member]))["id"]

    def leave() -> Awaitable[httpx.Response]:
        return api.http.post(f"/api/v1/chats/{chat}/leave", headers=owner.auth)

    left = await _interleave_with_a_send(pg_session, chat, owner, leave, caplog)
    assert left.status_code == 204, left.text


async def test_a_write_that_loses_a_deadlock_is_run_again(
    api: Api, pg_session: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # Rows taken against chatd's order by another session: the app's deletion waits first, so
    # PostgreSQL picks it as the deadlock's victim; chatd runs it again and answers 204.
    caplog.set_level(logging.INFO, logger="chatd.storage")
    owner, member = await sign_up_many(api.http, "owner", "member")
    chat = (await create_chat(api.http, owner, "room", [member]))["id"]
    async with pg_session.transaction():
        await pg_session.execute(
            "UPDATE chat_members SET last_read_seq = 0 WHERE chat_id = $1 AND user_id = $2",
            chat,
            member.id,
        )
        task = asyncio.ensure_future(api.http.delete(f"/api/v1/chats/{chat}", headers=owner.auth))
        await asyncio.sleep(0.3)
        await pg_session.execute("UPDATE chats SET last_seq = last_seq WHERE id = $1", chat)
    deleted = await task
    assert deleted.status_code == 204, deleted.text
    assert [r for r in caplog.records if "SQLSTATE 40P01" in r.getMessage()]


async def _wait_until_blocked_by(conn: asyncpg.Connection, task: asyncio.Future[Any]) -> None:
    """Returns once another backend waits on a lock `conn` holds (`task` must not end first)."""
    for _ in range(500):
        assert not task.done(), task.result().text
        # pg_stat_activity is a snapshot kept until the transaction ends: cleared each time.
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            conn.get_server_pid(),
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the send never waited on the chat's row lock")


@pytest.mark.parametrize("idempotency_key", [None, "send-1"], ids=["batched", "idempotent"])
async def test_a_send_waiting_on_its_authors_leave_is_refused_once_the_leave_commits(
    api: Api, pg_session: asyncpg.Connection, idempotency_key: str | None
) -> None:
    # A member's leave, played by another session exactly as leave_chat does it (the chat's
    # row, then the membership row), with the author's send started while it is open. A send
    # that checks membership in a snapshot taken before the leave committed stores a message
    # from a non-member. (A private chat cannot be left and its members never change.)
    owner, author = await sign_up_many(api.http, "owner", "author")
    chat = (await create_chat(api.http, owner, "room", [author]))["id"]
    last_seq = await api.scalar("SELECT last_seq FROM chats WHERE id = :c", c=chat)
    headers = dict(author.auth)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    async with pg_session.transaction():
        await pg_session.execute("SELECT id FROM chats WHERE id = $1 FOR UPDATE", chat)
        await pg_session.execute(
            "DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2", chat, author.id
        )
        sending = asyncio.ensure_future(
            api.http.post(f"/api/v1/chats/{chat}/messages", json={"text": "late"}, headers=headers)
        )
        await _wait_until_blocked_by(pg_session, sending)
    sent = await sending
    assert sent.status_code == 403, sent.text
    assert sent.json()["error"]["code"] == "not_a_member"
    stored = await api.scalar(
        "SELECT count(*) FROM messages WHERE chat_id = :c AND author_id = :a", c=chat, a=author.id
    )
    assert stored == 0
    assert await api.scalar("SELECT last_seq FROM chats WHERE id = :c", c=chat) == last_seq
