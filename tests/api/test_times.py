"""Every path that renders a time writes the same string, to the microsecond.

Times reach the wire two ways: api/render.py formats Python datetimes (the full Avito history,
all of API v1), and storage/documents.py has the database build the Avito listings' JSON (paged
histories, `/chats/get`). The clock is pinned to edge values, and every rendering of the
resulting message and chat times is compared with the string the pinned datetime calls for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chatd.core import clock
from tests.api.helpers import add_chat, get_chats, get_messages
from tests.api.helpers import send as send_avito
from tests.api.v1_helpers import Api, history, list_chats, ok, show_chat, sign_up_many

EDGES = [
    # As a float, micros / 1e6 reached strftime rounded to the millisecond: the next second.
    pytest.param(datetime(2026, 11, 25, 12, 0, 40, 999863, tzinfo=UTC), id="reported"),
    pytest.param(datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="last-of-a-year"),
    pytest.param(datetime(2026, 11, 25, 12, 0, 41, tzinfo=UTC), id="whole-second"),
    pytest.param(datetime(2026, 11, 25, 12, 0, 41, 1, tzinfo=UTC), id="first-microsecond"),
    pytest.param(datetime(2026, 11, 25, 12, 0, 40, 999500, tzinfo=UTC), id="half-millisecond"),
    pytest.param(datetime(2026, 11, 25, 12, 0, 40, 999499, tzinfo=UTC), id="just-below-half-ms"),
    pytest.param(datetime(2026, 11, 25, 12, 0, 40, 500000, tzinfo=UTC), id="half-second"),
    pytest.param(datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC), id="leap-day"),
    pytest.param(datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC), id="int32-seconds-end"),
    # Not datetime.max itself: asyncpg sends that as PostgreSQL's 'infinity'.
    pytest.param(datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC), id="year-9999"),
    pytest.param(datetime(1970, 1, 1, tzinfo=UTC), id="epoch"),
    pytest.param(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="before-epoch"),
]

# Unicode the JSON builders must pass through unchanged: Cyrillic, CJK, an emoji outside the
# BMP, a combining accent, and characters JSON escapes.
TEXTS = ["Привет, 世界 🎉", 'e\u0301 "quoted" \\ tab\t line\nbreak', "последнее 🚀"]


def _expected(moment: datetime) -> str:
    # isoformat pads the year to four digits and always writes six fraction digits here.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


async def _write_at(api: Api, moment: datetime, users: list[int]) -> tuple[int, list[int]]:
    """A chat and three messages, all stamped `moment`, through the Avito API (no tokens: a
    token checked against a pinned clock in 9999 would have expired)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: moment)
        chat = await add_chat(api.http, "edges", users)
        sent = [
            await send_avito(api.http, chat, users[i % 2], text) for i, text in enumerate(TEXTS)
        ]
    return chat, sent


def _times(path: str, found: dict[str, Any], *keys: str) -> dict[str, str]:
    return {f"{path} {key}": found[key] for key in keys}


@pytest.mark.parametrize("moment", EDGES)
async def test_every_path_renders_the_same_time(api: Api, moment: datetime) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat, (first, tombstone, last) = await _write_at(api, moment, [alice.id, bob.id])
    # A tombstone between them: the Avito listings leave it out, v1 shows it without text.
    ok(await api.http.delete(f"/api/v1/messages/{tombstone}", headers=bob.auth), 204)

    full = await get_messages(api.http, chat)  # rendered in Python
    # Built by the database:
    pages = {
        "limit": await get_messages(api.http, chat, limit=10),
        "limit before": await get_messages(api.http, chat, limit=10, before=last),
        "limit after": await get_messages(api.http, chat, limit=10, after=first),
        "before": await get_messages(api.http, chat, before=last),
        "after": await get_messages(api.http, chat, after=first),
    }
    (listed,) = await get_chats(api.http, alice.id)
    # API v1, rendered in Python:
    v1_history = (await history(api.http, alice, chat))["messages"]
    (v1_listed,) = (await list_chats(api.http, alice))["chats"]
    v1_shown = await show_chat(api.http, alice, chat)

    times = _times("avito chats", listed, "created_at", "last_message_at")
    for name, found in {"full": full, **pages}.items():
        for m in found:
            times |= _times(f"avito messages {name} {m['id']}", m, "created_at")
    times |= _times("v1 chats", v1_listed, "created_at", "last_message_at")
    times |= _times("v1 chats last_message", v1_listed["last_message"], "created_at")
    times |= _times("v1 chat", v1_shown, "created_at", "last_message_at")
    for name, found in {"history": v1_history, "chat messages": v1_shown["messages"]}.items():
        for m in found:
            times |= _times(f"v1 {name} {m['id']}", m, "created_at")
    assert times == dict.fromkeys(times, _expected(moment))

    # The rest of each message agrees too, unicode included; the tombstone is left out.
    assert [(m["id"], m["text"]) for m in full] == [(first, TEXTS[0]), (last, TEXTS[2])]
    assert pages == {
        "limit": full,
        "limit before": full[:1],
        "limit after": full[1:],
        "before": full[:1],
        "after": full[1:],
    }
    assert [m["text"] for m in v1_history] == [TEXTS[0], None, TEXTS[2]]
    assert v1_listed["last_message"]["excerpt"] == TEXTS[2]
