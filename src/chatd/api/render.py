"""Domain records as JSON bytes: one place decides the wire format of times and records.

Times are RFC 3339 in UTC with six fraction digits ("2026-11-25T12:00:00.123456Z"). orjson writes
aware UTC datetimes that way, in C and ten times faster than Python, except that it drops the
fraction of a time on a whole second: only those are formatted here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from fastapi import Response

from chatd.core.models import Chat, Message

_OPTIONS = orjson.OPT_UTC_Z


def timestamp(value: datetime) -> datetime | str:
    """The value for orjson to write, or the string where orjson would drop the fraction."""
    if value.microsecond:
        return value
    return value.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def chat(value: Chat) -> dict[str, Any]:
    return {
        "id": value.id,
        "name": value.name,
        "users": value.users,
        "created_at": timestamp(value.created_at),
        "last_message_at": timestamp(value.last_message_at),
    }


def message(value: Message) -> dict[str, Any]:
    return {
        "id": value.id,
        "chat": value.chat,
        "author": value.author,
        "text": value.text,
        "created_at": timestamp(value.created_at),
    }


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def messages(values: Iterable[Message]) -> bytes:
    return dumps([message(m) for m in values])


def json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type="application/json")
