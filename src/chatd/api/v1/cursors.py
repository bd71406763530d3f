"""Opaque cursors for chat lists: the keyset (activity time, chat id) in URL-safe base64."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from chatd.api.errors import BadRequest
from chatd.core.models import ChatInfo, ChatListCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode(chat: ChatInfo) -> str:
    micros = (chat.last_message_at - _EPOCH) // _MICROSECOND
    return base64.urlsafe_b64encode(f"{micros}:{chat.id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> ChatListCursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, _, chat = raw.partition(":")
        return ChatListCursor(_EPOCH + timedelta(microseconds=int(micros)), int(chat))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise BadRequest("cursor is not one this server gave out", code="invalid_cursor") from exc
