"""Who may see whether a user is online, and when they were last seen (GET /api/v1/users).

The user themself, the people who share a chat with them, and moderators see it; nobody else
does (null in the API): presence tells when someone is at their screen, which is for the people
they talk to. The state itself is kept by realtime/presence.py in storage/presence.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from chatd.core import clock
from chatd.core.models import Caller, UserId


class Seen(NamedTuple):
    online: bool
    last_seen_at: datetime | None  # when their last stream closed; None while online, or never


class PresenceReader(Protocol):
    async def seen(self, ids: Sequence[UserId], now: datetime) -> dict[UserId, Seen]: ...

    async def sharing(self, viewer: UserId, ids: Sequence[UserId]) -> set[UserId]: ...


async def presence_for(
    reader: PresenceReader, caller: Caller, ids: Sequence[UserId]
) -> dict[UserId, Seen]:
    """Whether each of `ids` the caller may see is online, and when last seen; the users the
    caller may not see are left out."""
    if not ids:
        return {}
    if caller.is_moderator:
        visible = list(ids)
    else:
        others = [user for user in ids if user != caller.id]
        shared = await reader.sharing(caller.id, others) if others else set()
        visible = [user for user in ids if user == caller.id or user in shared]
    return await reader.seen(visible, clock.now()) if visible else {}
