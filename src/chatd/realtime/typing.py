"""Typing: a client says it is typing in a chat; the chat's other connected members are told.

    client {"type": "typing", "chat": C}      the sender's instance: a member of C (its stream's
      -> TypingLimit (one a chat every 2 s     audience, no query), within the rate
         per connection; the rest dropped)      -> a signal under C's topic (realtime/ephemeral.py)
    every instance following C's topic         -> {"type": "typing", "chat": C, "user": U} to its
                                                  streams of C's members, the sender's excepted

A frame for a chat the user is not in is dropped as silently as one over the rate: the answer
must not tell whether the chat exists. A moderator's stream follows every chat's changes but is
told of typing only in the chats they are a member of (their audience knows those too).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from chatd.core import stream
from chatd.core.events import chat_topic
from chatd.core.models import ChatId
from chatd.realtime.hub import Hub

TYPING_EVERY = 2.0  # seconds: one typing frame a chat per connection passes in this time
_REMEMBERED = 64  # chats a connection's limit remembers before it forgets the stale ones


class TypingLimit:
    """One connection's rate: a typing frame a chat every TYPING_EVERY seconds."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[ChatId, float] = {}

    def allows(self, chat: ChatId, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self._last.get(chat)
        if last is not None and now - last < TYPING_EVERY:
            return False
        if len(self._last) >= _REMEMBERED:
            self._last = {c: t for c, t in self._last.items() if now - t < TYPING_EVERY}
        self._last[chat] = now
        return True


class Typing:
    """This instance's part of typing: sends its streams' signals, delivers those it hears."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        hub.signal_handlers["typing"] = self._heard

    def typed(self, audience: stream.Audience, chat: ChatId, limit: TypingLimit) -> None:
        """The user of `audience` types in `chat`: tells its other members, or drops it."""
        if chat not in audience.chats or not limit.allows(chat):
            return
        frame = {"type": "typing", "chat": chat, "user": audience.user}
        self._hub.signals.offer([chat_topic(chat)], orjson.dumps(frame).decode())

    def _heard(self, topic: str, signal: dict[str, Any]) -> None:
        chat, user = signal.get("chat"), signal.get("user")
        if not isinstance(chat, int) or not isinstance(user, int) or topic != chat_topic(chat):
            return
        text = orjson.dumps({"type": "typing", "chat": chat, "user": user}).decode()
        for follower in self._hub.routed(topic):
            audience = follower.audience
            if audience.user != user and chat in audience.chats:
                follower.signal(text)
