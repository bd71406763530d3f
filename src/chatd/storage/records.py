"""The Avito API's records as JSON, written by the writes that change them and only concatenated
by the reads.

A listing formatted on every read spent most of its time formatting (`messages/get` of 100:
~55 µs of a ~160 µs statement on times alone; `chats/get` of 100 chats: a member list and two
times per chat, ~270 µs): docs/decisions.md §24. So each message keeps its record, and each chat
its listing entry, as text, and a read is one index range whose rows are joined by the database:

    message     '{"id":' || id || ',' || body         body: message_body(...)
    chat        head || ',"last_message_at":"' || last_message_text || '"}'

A message's id is left out of its stored text because it is only known once the row is inserted
(a chat's head is written after its row, so it holds the id); a chat's last message time because
every send moves it (a send writes `last_message_text`, never the head). Everything here is
orjson's JSON, so the stored records read exactly as api/render.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from chatd.core.clock import rfc3339
from chatd.core.models import ChatId, MessageId, UserId


def message_body(
    chat: ChatId, author: UserId, text: str, created_at: str, reply_to: MessageId | None = None
) -> str:
    """An Avito message record after its id: `"chat":..,"author":..,"text":..,"created_at":..}`
    (`created_at` already as rfc3339 text: a batch of sends formats its time once), and
    `"reply_to":..` last for a reply only: every other record stays as it always was."""
    record: dict[str, object] = {
        "chat": chat,
        "author": author,
        "text": text,
        "created_at": created_at,
    }
    if reply_to is not None:
        record["reply_to"] = reply_to
    return orjson.dumps(record).decode()[1:]


def chat_head(chat: ChatId, name: str | None, users: Sequence[UserId], created_at: datetime) -> str:
    """An Avito chat record up to its last message time:
    `{"id":..,"name":..,"users":[..],"created_at":..` (users in id order)."""
    record = {"id": chat, "name": name, "users": sorted(users), "created_at": rfc3339(created_at)}
    return orjson.dumps(record).decode()[:-1]


def mentions_text(mentions: Sequence[UserId]) -> str | None:
    """`messages.mentions`: the ids in order, comma-separated; NULL for none."""
    return ",".join(map(str, mentions)) if mentions else None
