"""Domain records as JSON bytes: one place decides the wire format of times and records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from fastapi import Response

from chatd.core.models import Chat, Message


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC, always with microseconds (orjson would drop a zero fraction)."""
    # isoformat is twice as fast as strftime; storage hands out UTC-aware times ("+00:00").
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


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


def messages(values: Iterable[Message]) -> bytes:
    return orjson.dumps([message(m) for m in values])


def json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")
