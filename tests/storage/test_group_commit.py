"""The group commit and its batched writes, without a server: a real store on a real SQLite
file and a real PostgreSQL, writes submitted together so that they share one group.

Both databases run the same pipeline (storage/groupcommit.py): these tests are what shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any

import pytest

from chatd.config import Settings
from chatd.core import clock, writes
from chatd.core.errors import (
    ChatNameTaken,
    IdempotencyKeyInUse,
    NotAMember,
    UsernameTaken,
    UserNotFound,
)
from chatd.core.events import Written
from chatd.core.idempotency import Receipt
from chatd.core.models import Page, SeqPage
from chatd.core.ports import NewUser, Send, Transaction
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore


class Heard:
    """A notifier that keeps what it is told."""

    def __init__(self) -> None:
        self.published: list[tuple[set[str], int]] = []

    def publish(self, topics: Iterable[str], pos: int) -> None:
        self.published.append((set(topics), pos))


@pytest.fixture
async def heard() -> Heard:
    return Heard()


@pytest.fixture
async def store(database_url: str, heard: Heard) -> AsyncIterator[SqlStore]:
    database = open_database(Settings(database_url=database_url))
    opened = SqlStore(database, notifier=heard)
    try:
        yield opened
    finally:
        await opened.close()
        await database.dispose()


async def _together(*writes_: Any) -> list[Any]:
    """Runs the writes as one group: submitted before the group commit's task first runs."""
    return await asyncio.gather(*writes_, return_exceptions=True)


async def _users(store: SqlStore, *names: str) -> list[int]:
    found = await _together(
        *(store.write(None, writes.do_add_user, NewUser(n, n, clock.now())) for n in names)
    )
    return [int(user) for user in found]


async def test_sends_waiting_together_share_one_transaction_and_one_statement_path(
    store: SqlStore, heard: Heard
) -> None:
    alice, bob, carol = await _users(store, "alice", "bob", "carol")
    chat = await store.write(None, writes.do_create_chat, "room", [alice, bob], clock.now())
    groups = store.commits.groups
    sent = await _together(
        *(
            store.write(None, writes.do_send, Send(chat, alice, f"m{i}", clock.now()))
            for i in range(5)
        ),
        store.write(None, writes.do_send, Send(chat, carol, "not a member", clock.now())),
        store.write(None, writes.do_send, Send(chat, bob, "last", clock.now())),
    )
    assert store.commits.groups == groups + 1  # one transaction for all seven
    assert [m.seq for m in sent[:5]] == [1, 2, 3, 4, 5]
    assert [m.text for m in sent[:5]] == [f"m{i}" for i in range(5)]
    assert isinstance(sent[5], NotAMember)  # refused alone
    assert sent[6].seq == 6
    assert sent[6].author == bob
    # Published once, after the commit, with the group's last position.
    topics, pos = heard.published[-1]
    assert topics == {f"c{chat}"}
    assert pos == (await store.change_positions())[0]


async def test_a_lone_send_is_a_batch_of_one(store: SqlStore) -> None:
    (alice,) = await _users(store, "alice")
    chat = await store.write(None, writes.do_create_chat, "room", [alice], clock.now())
    before = (store.commits.groups, store.commits.jobs)
    message = await store.write(None, writes.do_send, Send(chat, alice, "hi", clock.now()))
    assert (store.commits.groups, store.commits.jobs) == (before[0] + 1, before[1] + 1)
    assert message.seq == 1
    document = await store.messages_document(chat, Page(limit=10))
    assert document.startswith(f'[{{"id":{message.id},"chat":{chat},'.encode())


async def test_a_refusal_in_a_group_undoes_its_own_writes_only(store: SqlStore) -> None:
    (alice,) = await _users(store, "alice")
    chat = await store.write(None, writes.do_create_chat, "old name", [alice], clock.now())
    now = clock.now()
    # The first renames, then finds an unknown member and is refused: its rename must go too.
    refused, created = await _together(
        store.write(None, writes.do_update_chat, chat, "new name", [alice, 999], now, alice),
        store.write(None, writes.do_create_chat, "other", [alice], now),
    )
    assert isinstance(refused, UserNotFound)
    assert isinstance(created, int)
    info = await store.find_chat_info(alice, chat)
    assert info is not None
    assert info.name == "old name"
    assert b'"name":"other"' in await store.user_chats_document(alice)
    assert b'"name":"new name"' not in await store.user_chats_document(alice)


async def test_new_users_are_batched_and_a_name_taken_in_the_batch_fails_alone(
    store: SqlStore,
) -> None:
    now = clock.now()
    found = await _together(
        store.write(None, writes.do_add_user, NewUser("dup", "dup", now)),
        store.write(None, writes.do_add_user, NewUser("one", "one", now)),
        store.write(None, writes.do_add_user, NewUser("DUP", "dup", now)),
    )
    assert isinstance(found[0], int)
    assert isinstance(found[1], int)
    assert isinstance(found[2], UsernameTaken)
    assert [a.username for a in await store.list_accounts()] == ["dup", "one"]


async def test_the_same_key_twice_in_one_group_writes_once(store: SqlStore) -> None:
    (alice,) = await _users(store, "alice")
    chat = await store.write(None, writes.do_create_chat, "room", [alice], clock.now())
    now = clock.now()

    def receipt() -> Receipt:
        made = Receipt(alice, "k", "f" * 64, now, now - timedelta(hours=24))
        made.render = lambda message: (201, str(message.seq).encode())
        return made

    first, second = receipt(), receipt()
    done = await _together(
        store.write(first, writes.do_send, Send(chat, alice, "once", now)),
        store.write(second, writes.do_send, Send(chat, alice, "once", now)),
    )
    assert done[0].seq == 1
    assert first.reply == (201, b"1")
    assert isinstance(done[1], IdempotencyKeyInUse)
    assert second.reply is None
    assert [m.text for m in await store.history_page(chat, SeqPage(limit=10))] == ["once"]


def _broken(tx: Transaction, chat: int) -> Written[None]:
    tx.rename_chat(chat, "half done")
    raise RuntimeError("a bug, not a refusal")


async def test_a_group_failing_on_an_error_runs_again_job_by_job(store: SqlStore) -> None:
    (alice,) = await _users(store, "alice")
    chat = await store.write(None, writes.do_create_chat, "room", [alice], clock.now())
    now = clock.now()
    broken, sent, created = await _together(
        store.write(None, _broken, chat),
        store.write(None, writes.do_send, Send(chat, alice, "kept", now)),
        store.write(None, writes.do_create_chat, "kept too", [alice], now),
    )
    assert isinstance(broken, RuntimeError)
    assert sent.text == "kept"
    assert isinstance(created, int)
    info = await store.find_chat_info(alice, chat)
    assert info is not None
    assert info.name == "room"


async def test_a_name_taken_is_refused_and_the_listing_entry_follows_each_write(
    store: SqlStore,
) -> None:
    alice, bob = await _users(store, "alice", "bob")
    chat = await store.write(None, writes.do_create_chat, "room", [alice], clock.now())
    with pytest.raises(ChatNameTaken):
        await store.write(None, writes.do_create_chat, "room", [bob], clock.now())
    await store.write(
        None, writes.do_update_chat, chat, "renamed", [alice, bob], clock.now(), alice
    )
    message = await store.write(None, writes.do_send, Send(chat, bob, "hi", clock.now()))
    listed = (await store.user_chats_document(bob)).decode()
    assert f'"id":{chat},"name":"renamed","users":[{alice},{bob}]' in listed
    assert listed.endswith(f'"last_message_at":"{clock.rfc3339(message.created_at)}"}}]')
    await store.write(None, writes.do_leave_chat, chat, alice)
    listed = (await store.user_chats_document(bob)).decode()
    assert f'"users":[{bob}]' in listed


async def test_every_write_goes_through_the_group_commit(store: SqlStore) -> None:
    """Nothing writes beside it: the jobs counted are the writes made."""
    before = store.commits.jobs
    alice, bob = await _users(store, "alice", "bob")
    chat = await store.write(None, writes.do_create_chat, "room", [alice, bob], clock.now())
    await store.write(None, writes.do_send, Send(chat, alice, "hi", clock.now()))
    await store.write(None, writes.do_mark_read, chat, bob, 1)
    await store.write(None, writes.do_leave_chat, chat, bob)
    assert store.commits.jobs == before + 6
    last, _pruned = await store.change_positions()
    assert last > 0


@pytest.mark.parametrize("lanes", [1, 2])
async def test_no_more_groups_are_in_the_database_at_once_than_its_lanes(
    database_url: str, lanes: int
) -> None:
    """`--workers N` gives each process one lane (Settings.lanes): the groups of all processes
    queue on the change log's row, and more of them at once only wait there."""
    database = open_database(Settings(database_url=database_url))
    store = SqlStore(database, lanes=lanes)
    try:
        (alice,) = await _users(store, "alice")
        chat = await store.write(None, writes.do_create_chat, "room", [alice], clock.now())
        sends = []
        for i in range(6):  # each a little after the last: a lane is busy when the next comes
            sends.append(
                asyncio.ensure_future(
                    store.write(None, writes.do_send, Send(chat, alice, f"m{i}", clock.now()))
                )
            )
            await asyncio.sleep(0)
        running = [lane for lane in store.commits._lanes if not lane.done()]
        assert len(running) == lanes
        # Concurrent groups commit in either order: each send has its own seq, none lost.
        assert sorted(m.seq for m in await asyncio.gather(*sends)) == [1, 2, 3, 4, 5, 6]
    finally:
        await store.close()
        await database.dispose()
