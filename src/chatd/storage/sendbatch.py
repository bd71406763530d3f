"""PostgreSQL: sends that arrive together share one transaction (and one commit).

A send locks its chat's row until its transaction commits; one message per transaction pays the
commit's fsync under that lock for every message, a convoy on a busy chat (and every writing
transaction takes the change log's row last). Here, while one batch is in the database, the
sends arriving meanwhile queue; the next batch runs them in one transaction, in chat id order
(the same lock order in every batch and every process, so batches cannot deadlock each other),
logs all their changes in one statement and commits once. A refused send (not a member, no such
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

from chatd.core import clock
from chatd.core.errors import ChatdError
from chatd.core.events import Change, Written
from chatd.core.models import ChatId, Message, UserId
from chatd.storage import changes
from chatd.storage.database import Database

log = logging.getLogger("chatd.storage")
MAX_BATCH = 256

Post = Callable[[sa.Connection, ChatId, UserId, str, datetime], Written[Message]]
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
    def __init__(self, db: Database, post: Post, publish: Publish) -> None:
        self._db = db
        self._post = post
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
            outcome = await self._db.write(_send_all, self._post, sends)
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
            outcome = await self._db.write(_send_all, self._post, [send])
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


def _send_all(conn: sa.Connection, post: Post, sends: list[_Send]) -> _Outcome:
    results: list[Message | ChatdError | None] = [None] * len(sends)
    logged: list[Change] = []
    # Chat id order: the lock order every batch in every process follows.
    for i in sorted(range(len(sends)), key=lambda i: sends[i].chat):
        send = sends[i]
        try:
            sent, posted = post(conn, send.chat, send.author, send.text, send.now)
        except ChatdError as refused:  # refused before writing anything
            results[i] = refused
            continue
        results[i] = sent
        logged += posted
    last_pos = changes.append(conn, logged, clock.now())
    done: list[Message | ChatdError] = [r for r in results if r is not None]
    return _Outcome(done, logged, last_pos)
