"""The change log: appended in every writing transaction, read as each user's stream.

Positions come from the single row of `change_log`, bumped by the last statement of each
writing transaction. Its row lock is held until commit, so transactions take positions in the
order they commit: on PostgreSQL, where concurrent transactions commit in any order, a reader
that sees pos N+1 knows N is visible too (or never will be: it was not given out). On SQLite the
one writer thread gives the same order for free.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chatd.core import events
from chatd.core.events import Change, ChatState, LogEntry, LogPage, Membership
from chatd.core.models import ChatId, UserId
from chatd.storage import chats, locks
from chatd.storage.dialects import Dialect
from chatd.storage.messages import MESSAGE_COLUMNS, message_of, with_quotes, with_reactions
from chatd.storage.tables import change_log, changes, chat_members, messages

# A member hears of the chat's changes logged after they joined.
_JOINED = "UPDATE chat_members SET joined_pos = $1 WHERE chat_id = $2 AND user_id = $3"


def append(
    conn: sa.Connection, sql: Dialect, logged: Sequence[Change], now: datetime
) -> int | None:
    """Logs the changes with consecutive positions; the last one (None when there are none).
    Call it last in a transaction: it takes the log's lock until commit."""
    if not logged:
        return None
    last = sql.log_changes(conn, [(c.type, c.chat, c.user, c.message, c.seq) for c in logged], now)
    first = last - len(logged) + 1
    joined = [
        (first + i, c.chat, c.user)
        for i, c in enumerate(logged)
        if c.type in events.JOINS and c.user is not None
    ]
    if joined:
        sql.executemany(conn, _JOINED, joined)
    return last


def positions(conn: sa.Connection) -> tuple[int, int]:
    """The last position given out, and the last one pruned."""
    row = conn.execute(sa.select(change_log.c.last_pos, change_log.c.pruned_pos)).one()
    return int(row.last_pos), int(row.pruned_pos)


_ENTRY_COLUMNS = (
    changes.c.pos,
    changes.c.type,
    changes.c.chat_id,
    changes.c.user_id,
    changes.c.seq,
    *MESSAGE_COLUMNS,
)


def _with_log_end(source: sa.FromClause, on: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Rows of `source` (changes joined with their messages), each with the log's end.

    The log's one row is outer-joined with them: the end comes in the same statement, so in the
    same snapshot as the rows, even when there are none (a second statement would see later
    commits and let a reader's `checked` jump over them)."""
    return (
        sa.select(change_log.c.last_pos, *_ENTRY_COLUMNS)
        .select_from(change_log.outerjoin(source, on))
        .order_by(changes.c.pos)
    )


def _with_messages(source: sa.FromClause) -> sa.FromClause:
    return with_quotes(source.outerjoin(messages, messages.c.id == changes.c.message_id))


_after = sa.bindparam("after", type_=sa.BigInteger)
_limit = sa.bindparam("limit", type_=sa.Integer)

# Every instance's one shared read: all changes after `after`, in order.
_TAIL = _with_log_end(_with_messages(changes), changes.c.pos > _after).limit(_limit)


def _user_query(everyone: bool) -> sa.Select[Any]:
    """One user's changes after `after`: those addressed to them, and those of the chats they
    are a member of now, from their joining on (every chat's, for a moderator). Two indexed
    range reads, (user_id, pos) and (chat_id, pos): a resume costs what the user's own changes
    cost, however long the log is."""
    user = sa.bindparam("user", type_=sa.BigInteger)
    own = sa.select(changes.c.pos).where(changes.c.user_id == user, changes.c.pos > _after)
    if everyone:
        # A moderator hears every chat's changes addressed to the chat (creation and deletion
        # included, core/events.py), so not the membership changes addressed to them as well.
        own = own.where(changes.c.type.not_in(sorted(events.JOINS | events.LEAVES)))
        chats = sa.select(changes.c.pos).where(changes.c.user_id.is_(None), changes.c.pos > _after)
    else:
        member_since = sa.and_(
            changes.c.chat_id == chat_members.c.chat_id,
            changes.c.user_id.is_(None),
            changes.c.pos > chat_members.c.joined_pos,
        )
        chats = (
            sa.select(changes.c.pos)
            .select_from(chat_members.join(changes, member_since))
            .where(chat_members.c.user_id == user, changes.c.pos > _after)
        )
    found = sa.union_all(own, chats).subquery()
    picked = sa.select(found.c.pos).order_by(found.c.pos).limit(_limit).subquery()
    source = _with_messages(picked.join(changes, changes.c.pos == picked.c.pos))
    return _with_log_end(source, sa.true())


_USER = {everyone: _user_query(everyone) for everyone in (False, True)}


def _page(conn: sa.Connection, rows: Sequence[Any], limit: int) -> LogPage:
    last_pos = int(rows[0].last_pos)
    if rows[0].pos is None:
        return LogPage([], last_pos, more=False)  # the log's row alone: nothing after `after`
    entries = [
        LogEntry(
            int(row[1]),
            row[2],
            row[3],
            row[4],
            row[5],
            message_of(row[6:]) if row[6] is not None else None,
        )
        for row in rows
    ]
    # Only these show reactions: a new message has none yet, and a deleted one none any more.
    reacted = [
        e.message
        for e in entries
        if e.message is not None and e.type in (events.MESSAGE_EDITED, events.MESSAGE_REACTIONS)
    ]
    if reacted:
        current = {m.id: m for m in with_reactions(conn, reacted)}
        entries = [
            e._replace(message=current[e.message.id])
            if e.message is not None and e.message.id in current
            else e
            for e in entries
        ]
    return LogPage(entries, last_pos, more=len(entries) == limit)


def tail(conn: sa.Connection, after: int, limit: int) -> LogPage:
    """Up to `limit` changes after `after`, whoever they are for, oldest first."""
    return _page(conn, conn.execute(_TAIL, {"after": after, "limit": limit}).all(), limit)


def user_changes(
    conn: sa.Connection, user: UserId, after: int, limit: int, everyone: bool
) -> LogPage:
    """Up to `limit` of one user's changes after `after` (see _user_query), oldest first."""
    params = {"user": user, "after": after, "limit": limit}
    return _page(conn, conn.execute(_USER[everyone], params).all(), limit)


_MEMBERSHIPS = sa.select(
    chat_members.c.chat_id,
    chat_members.c.user_id,
    chat_members.c.joined_pos,
    chat_members.c.last_read_seq,
    chats.unread_mentions(chat_members),
).where(chat_members.c.chat_id.in_(sa.bindparam("chats", expanding=True)))


def chat_states(
    conn: sa.Connection, info_query: sa.Select[Any], chat_ids: Collection[ChatId]
) -> dict[ChatId, ChatState]:
    """The chats that still exist among `chat_ids`, as they are now, with their members'
    joining positions and read markers."""
    if not chat_ids:
        return {}
    wanted = sorted(chat_ids)
    infos = chats.chat_infos_by_id(conn, info_query, wanted)
    members: dict[ChatId, dict[UserId, Membership]] = {chat: {} for chat in infos}
    for chat, user, joined_pos, read, mentioned in conn.execute(_MEMBERSHIPS, {"chats": wanted}):
        if chat in members:
            members[chat][user] = Membership(int(joined_pos), int(read), int(mentioned))
    return {chat: ChatState(info, members[chat]) for chat, info in infos.items()}


def prune(conn: sa.Connection, before: datetime, batch: int = 10_000) -> int:
    """Forgets up to `batch` of the oldest changes logged before `before`; how many (0 when
    another process is pruning: its next batch takes these too)."""
    # One pruner in the cluster at a time: replicas pruning together would each delete the same
    # rows, waiting on each other's row locks, for nothing.
    if not locks.take_if_free(conn, locks.PRUNING):
        return 0
    oldest = (
        sa.select(changes.c.pos)
        .where(changes.c.created_at < before)
        .order_by(changes.c.pos)
        .limit(batch)
        .subquery()
    )
    upto = conn.execute(sa.select(sa.func.max(oldest.c.pos))).scalar()
    if upto is None:
        return 0
    deleted = conn.execute(changes.delete().where(changes.c.pos <= upto)).rowcount
    conn.execute(
        change_log.update()
        .where(change_log.c.id == 1, change_log.c.pruned_pos < upto)
        .values(pruned_pos=upto)
    )
    return int(deleted)
