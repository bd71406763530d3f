"""Domain records as JSON bytes: one place decides the wire format of times and records.

Times are RFC 3339 in UTC with six fraction digits, as core/clock.py's `rfc3339` writes them.
orjson writes aware UTC datetimes that way, in C and ten times faster than Python, except that it
drops the fraction of a time on a whole second: only those go through `rfc3339`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import Response

from chatd.core.clock import rfc3339
from chatd.core.models import Account, ChatInfo, Message, Quote, Reaction, UserId

_OPTIONS = orjson.OPT_UTC_Z


def timestamp(value: datetime) -> datetime | str:
    """The value for orjson to write, or the text (clock.rfc3339, the one format) where orjson
    would drop the fraction."""
    if value.microsecond:
        return value
    return rfc3339(value)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type="application/json")


# API v1

EXCERPT_LENGTH = 200


def account(value: Account) -> dict[str, Any]:
    return {
        "id": value.id,
        "username": value.username,
        "email": value.email,
        "role": value.role,
        "created_at": timestamp(value.created_at),
        "blocked": value.blocked_at is not None,
    }


def message_v1(value: Message, viewer: UserId | None = None) -> dict[str, Any]:
    """The message as `viewer` sees it: whether it mentions them, which reactions are theirs
    (None: as a bystander, who is neither)."""
    deleted = value.deleted_at is not None
    return {
        "id": value.id,
        "chat": value.chat,
        "seq": value.seq,
        "author": value.author,
        "text": None if deleted else value.text,
        "created_at": timestamp(value.created_at),
        "edited_at": None if value.edited_at is None else timestamp(value.edited_at),
        "deleted": deleted,
        "reply_to": None if value.reply_to is None else quote(value.reply_to),
        "reactions": reactions(value.reactions, viewer),
        "mentions": list(value.mentions),
        "mentions_me": viewer in value.mentions,
    }


def quote(value: Quote) -> dict[str, Any]:
    return {
        "id": value.id,
        "author": value.author,
        "excerpt": value.excerpt,
        "deleted": value.deleted,
    }


def reactions(value: tuple[Reaction, ...], viewer: UserId | None) -> list[dict[str, Any]]:
    return [{"emoji": r.emoji, "count": len(r.users), "me": viewer in r.users} for r in value]


def _preview(value: Message) -> dict[str, Any]:
    deleted = value.deleted_at is not None
    return {
        "id": value.id,
        "seq": value.seq,
        "author": value.author,
        "excerpt": None if deleted else value.text[:EXCERPT_LENGTH],
        "created_at": timestamp(value.created_at),
        "edited": value.edited_at is not None,
        "deleted": deleted,
    }


def chat_info(value: ChatInfo) -> dict[str, Any]:
    return {
        "id": value.id,
        "name": value.name,
        "is_private": value.is_private,
        "owner": value.owner,
        "users": value.users,
        "created_at": timestamp(value.created_at),
        "last_message_at": timestamp(value.last_message_at),
        "last_seq": value.last_seq,
        "last_read_seq": value.last_read_seq,
        "unread_count": value.unread_count if value.is_member else 0,
        "last_message": None if value.last_message is None else _preview(value.last_message),
        "mention_count": value.mention_count if value.is_member else 0,
    }
