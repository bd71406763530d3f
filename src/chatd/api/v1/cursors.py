"""Opaque cursors, and the query parameters that carry them: for chat lists the keyset (activity
time, chat id), for search results the last message id, each in URL-safe base64."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Query

from chatd.api.errors import BadRequest
from chatd.api.schemas import MAX_ID
from chatd.core.models import ChatInfo, ChatListCursor, MessageId

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What encode() writes: microseconds since the epoch, a colon, the chat id. Nothing else, so
# int() never sees its looser forms (" 1", "1_0", "+1", non-ASCII digits).
_KEYSET = re.compile(r"(-?[0-9]{1,18}):([0-9]{1,19})")
_MESSAGE = re.compile(r"m:([0-9]{1,19})")  # what encode_message() writes

CursorQuery = Annotated[
    str | None,
    Query(description="The next_cursor of the previous page, as given (else 400 `invalid_cursor`)"),
]
ScopeQuery = Annotated[Literal["mine", "all"], Query(description="all: moderators only")]


def encode(chat: ChatInfo) -> str:
    micros = (chat.last_message_at - _EPOCH) // _MICROSECOND
    return base64.urlsafe_b64encode(f"{micros}:{chat.id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> ChatListCursor:
    """The keyset, or BadRequest (`invalid_cursor`) unless it is one encode() could have written:
    a chat id in 1..2**63-1 and a time between the years 1 and 9999."""
    try:
        keyset = _KEYSET.fullmatch(_unwrap(cursor))
        if keyset is None:
            raise ValueError(cursor)
        micros, chat = int(keyset[1]), int(keyset[2])
        if not 1 <= chat <= MAX_ID:
            raise ValueError(chat)
        return ChatListCursor(_EPOCH + timedelta(microseconds=micros), chat)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise _not_ours() from exc


def encode_message(message: MessageId) -> str:
    return base64.urlsafe_b64encode(f"m:{message}".encode()).decode().rstrip("=")


def decode_message(cursor: str) -> MessageId:
    """The message id, or BadRequest (`invalid_cursor`) unless encode_message() wrote it."""
    try:
        keyset = _MESSAGE.fullmatch(_unwrap(cursor))
        if keyset is None or not 1 <= int(keyset[1]) <= MAX_ID:
            raise ValueError(cursor)
        return int(keyset[1])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _not_ours() from exc


def _unwrap(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    # validate: without it, characters outside the alphabet (a NUL, say) are skipped.
    return base64.b64decode(padded, altchars=b"-_", validate=True).decode()


def _not_ours() -> BadRequest:
    return BadRequest("cursor is not one this server gave out", code="invalid_cursor")
