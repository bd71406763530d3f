"""Opaque cursors for chat lists: the keyset (activity time, chat id) in URL-safe base64."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

from chatd.api.errors import BadRequest
from chatd.api.schemas import MAX_ID
from chatd.core.models import ChatInfo, ChatListCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What encode() writes: microseconds since the epoch, a colon, the chat id. Nothing else, so
# int() never sees its looser forms (" 1", "1_0", "+1", non-ASCII digits).
_KEYSET = re.compile(r"(-?[0-9]{1,18}):([0-9]{1,19})")


def encode(chat: ChatInfo) -> str:
    micros = (chat.last_message_at - _EPOCH) // _MICROSECOND
    return base64.urlsafe_b64encode(f"{micros}:{chat.id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> ChatListCursor:
    """The keyset, or BadRequest (`invalid_cursor`) unless it is one encode() could have written:
    a chat id in 1..2**63-1 and a time between the years 1 and 9999."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # validate: without it, characters outside the alphabet (a NUL, say) are skipped.
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        keyset = _KEYSET.fullmatch(raw)
        if keyset is None:
            raise ValueError(raw)
        micros, chat = int(keyset[1]), int(keyset[2])
        if not 1 <= chat <= MAX_ID:
            raise ValueError(chat)
        return ChatListCursor(_EPOCH + timedelta(microseconds=micros), chat)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise BadRequest("cursor is not one this server gave out", code="invalid_cursor") from exc
