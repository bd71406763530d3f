"""PostgreSQL: sends that arrive together share one transaction (and one commit).

A send locks its chat's row until its transaction commits; one message per transaction pays the
commit's fsync under that lock for every message, a convoy on a busy chat (and every writing
transaction takes the change log's row last). Here, while one batch is in the database, the
sends arriving meanwhile queue; the next batch locks their chats in id order (the same lock
order in every batch and every process, so batches cannot deadlock each other), runs them all
in one statement, logs all their changes and commits once: a handful of round trips and one
fsync for the whole batch. A refused send (not a member, no such
chat) writes nothing and fails alone; a database error in a batch rolls it back whole, and its
sends are run again one by one, so only the faulty one fails. A send on an idle server runs at
once: nothing waits for a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa

from chatd.core import clock, events
from chatd.core.errors import ChatdError, OutcomeUnknown, Unavailable
from chatd.core.events import Change
from chatd.core.models import ChatId, Message, UserId
from chatd.storage import changes
from chatd.storage.database import Database
from chatd.storage.history import explain_refused_send

log = logging.getLogger("chatd.storage")
MAX_BATCH = 256

Publish = Callable[[list[Change], int], Awaitable[None]]


class _Send(NamedTuple):
    chat: ChatId
    author: UserId
    text: str
    now: datetime


class _Outcome(NamedTuple):
    results: list[Message | ChatdError]
    logged: list[Change]
    last_pos: int | None


class SendBatcher:
    def __init__(self, db: Database, publish: Publish) -> None:
        self._db = db
        self._publish = publish
        self._waiting: list[tuple[_Send, asyncio.Future[Message]]] = []
        self._running: asyncio.Task[None] | None = None
        self.batches = 0  # for the bench: how many transactions, for how many sends
        self.sends = 0

    async def post(self, chat: ChatId, author: UserId, text: str, now: datetime) -> Message:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting.append((_Send(chat, author, text, now), future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run())
        return await asyncio.shield(future)  # a caller who leaves does not undo its send

    async def _run(self) -> None:
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
            try:
                await self._commit(batch)
            except Exception:  # never leave a caller waiting
                log.exception("a batch of %d sends failed", len(batch))
                for _send, future in batch:
                    if not future.done():
                        future.set_exception(RuntimeError("the send could not be stored"))

    async def _commit(self, batch: list[tuple[_Send, asyncio.Future[Message]]]) -> None:
        sends = [send for send, _future in batch]
        try:
            outcome = await self._db.write(_send_all, sends)
        except (Unavailable, OutcomeUnknown) as exc:
            # The database is away (logged there), or the batch's commit was cut off and may
            # have happened: every send of it hears so, and none is run again.
            for _send, future in batch:
                future.set_exception(type(exc)())
            return
        except sa.exc.DBAPIError:
            log.info(
                "a batch of %d sends failed in the database: running them one by one", len(batch)
            )
            await asyncio.gather(*(self._one(send, future) for send, future in batch))
            return
        self.batches += 1
        self.sends += len(batch)
        for (_send, future), result in zip(batch, outcome.results, strict=True):
            if isinstance(result, ChatdError):
                future.set_exception(result)
            else:
                future.set_result(result)
        if outcome.last_pos is not None:
            await self._publish(outcome.logged, outcome.last_pos)

    async def _one(self, send: _Send, future: asyncio.Future[Message]) -> None:
        try:
            outcome = await self._db.write(_send_all, [send])
        except Exception as exc:
            future.set_exception(exc)
            return
        result = outcome.results[0]
        if isinstance(result, ChatdError):
            future.set_exception(result)
            return
        future.set_result(result)
        if outcome.last_pos is not None:
            await self._publish(outcome.logged, outcome.last_pos)


_LOCK_CHATS = "SELECT id FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"

# Every send of the batch in one statement: the members' sends (author in the chat, not
# blocked) bump their chat once by their count, take consecutive seqs in arrival order, are
# inserted, and move each author's read marker to their last seq. Times as one send's: the
# chat's activity time never goes back.
_SEND_ALL = """
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::text[])
        AS t(idx, chat, author, text)
), allowed AS (
    SELECT input.* FROM input
    WHERE EXISTS (SELECT 1 FROM chat_members m
                  WHERE m.chat_id = input.chat AND m.user_id = input.author)
      AND NOT EXISTS (SELECT 1 FROM users u
                      WHERE u.id = input.author AND u.blocked_at IS NOT NULL)
), counts AS (
    SELECT chat, count(*) AS n FROM allowed GROUP BY chat
), bumped AS (
    UPDATE chats SET last_seq = chats.last_seq + counts.n,
                     last_message_at = greatest(chats.last_message_at, $5::timestamptz)
    FROM counts WHERE chats.id = counts.chat
    RETURNING chats.id, chats.last_seq, chats.last_message_at
), numbered AS (
    SELECT allowed.idx, allowed.chat, allowed.author, allowed.text, bumped.last_message_at AS at,
           bumped.last_seq - counts.n
             + row_number() OVER (PARTITION BY allowed.chat ORDER BY allowed.idx) AS seq
    FROM allowed JOIN counts ON counts.chat = allowed.chat JOIN bumped ON bumped.id = allowed.chat
), inserted AS (
    INSERT INTO messages (chat_id, seq, author_id, text, created_at)
    SELECT chat, seq, author, text, at FROM numbered
    RETURNING id, chat_id, seq, created_at
), marked AS (
    UPDATE chat_members SET last_read_seq = last.seq
    FROM (SELECT chat, author, max(seq) AS seq FROM numbered GROUP BY chat, author) AS last
    WHERE chat_members.chat_id = last.chat AND chat_members.user_id = last.author
)
SELECT numbered.idx, inserted.id, inserted.seq, inserted.created_at
FROM inserted JOIN numbered ON numbered.chat = inserted.chat_id AND numbered.seq = inserted.seq
ORDER BY inserted.chat_id, inserted.seq
"""


def _send_all(conn: sa.Connection, sends: list[_Send]) -> _Outcome:
    chats = sorted({send.chat for send in sends})
    # The batch's chats locked in id order: the lock order of every batch in every process.
    conn.exec_driver_sql(_LOCK_CHATS, (chats,))
    rows = conn.exec_driver_sql(
        _SEND_ALL,
        (
            list(range(len(sends))),
            [send.chat for send in sends],
            [send.author for send in sends],
            [send.text for send in sends],
            max(send.now for send in sends),
        ),
    ).all()
    results: list[Message | ChatdError | None] = [None] * len(sends)
    logged: list[Change] = []
    for idx, message_id, seq, created_at in rows:
        send = sends[idx]
        results[idx] = Message(message_id, send.chat, seq, send.author, send.text, created_at)
        logged.append(Change(events.MESSAGE_CREATED, send.chat, message=message_id))
    for idx, result in enumerate(results):
        if result is None:  # refused: the reason, found by reads only
            try:
                explain_refused_send(conn, sends[idx].chat, sends[idx].author)
            except ChatdError as refused:
                results[idx] = refused
    last_pos = changes.append(conn, logged, clock.now())
    return _Outcome([r for r in results if r is not None], logged, last_pos)
