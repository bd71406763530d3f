"""Reactions as rows: one per (message, emoji, user), so putting one on twice, or taking off
one that is not there, changes nothing (and logs nothing: core/writes.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chatd.core.models import Message, UserId
from chatd.storage.dialects import Dialect
from chatd.storage.tables import message_reactions


def set_reaction(
    conn: sa.Connection,
    sql: Dialect,
    message: Message,
    emoji: str,
    user: UserId,
    now: datetime,
    *,
    on: bool,
) -> bool:
    """Puts the user's reaction on (`on`) or takes it off; whether a row changed."""
    if on:
        values = {
            "message_id": message.id,
            "emoji": emoji,
            "user_id": user,
            "chat_id": message.chat,
            "created_at": now,
        }
        done = conn.execute(sql.insert(message_reactions).values(values).on_conflict_do_nothing())
    else:
        done = conn.execute(
            message_reactions.delete().where(
                message_reactions.c.message_id == message.id,
                message_reactions.c.emoji == emoji,
                message_reactions.c.user_id == user,
            )
        )
    return bool(done.rowcount)
