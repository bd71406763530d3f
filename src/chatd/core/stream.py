"""A user's stream of changes: where it starts, and the next page of it from the log."""

from __future__ import annotations

from chatd.core.events import StreamPage
from chatd.core.models import ChatId, UserId
from chatd.core.ports import Store

PAGE = 200


class ResyncRequired(Exception):
    """The requested position is outside the log (pruned, or never given out): the client must
    reload its state and follow the stream from `pos`."""

    def __init__(self, pos: int) -> None:
        super().__init__(f"resync from {pos}")
        self.pos = pos


async def start_position(store: Store, requested: int | None) -> int:
    """Where a stream starts: right after `requested`, or at the log's end when None. Raises
    ResyncRequired when `requested` was pruned or never given out."""
    last, pruned = await store.change_positions()
    if requested is None:
        return last
    if requested < pruned or requested > last:
        raise ResyncRequired(last)
    return requested


async def next_page(store: Store, user: UserId, after: int) -> StreamPage:
    """The user's next changes after `after`, oldest first. Raises ResyncRequired when the log
    was pruned past `after` meanwhile (never a partial replay)."""
    page = await store.read_stream(user, after, PAGE)
    last, pruned = await store.change_positions()
    if after < pruned:
        raise ResyncRequired(last)
    return page


async def chats_of(store: Store, user: UserId) -> list[ChatId]:
    """The chats whose changes the user hears of."""
    return await store.user_chat_ids(user)
