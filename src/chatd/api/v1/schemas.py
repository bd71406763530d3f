"""Request and response shapes of API v1, as documented in /openapi.json."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StrictStr

from chatd.api.idempotency import KEY_MAX
from chatd.api.schemas import (
    NUL,
    SPACE,
    STORABLE,
    BodyId,
    ChatName,
    Model,
    Text,
    Username,
    char_class,
    patterns,
)
from chatd.core.accounts import EMAIL_MAX, PASSWORD_MAX, PASSWORD_MIN
from chatd.core.messages import SEQ_MAX
from chatd.core.models import Role

# core.accounts.check_email: once trimmed, at most EMAIL_MAX characters of `x@y.z`, where no
# part holds an @ or whitespace; the second pattern bounds the run without whitespace.
_PART = f"[^@{SPACE}{NUL}]+"
_EMAIL = f"^[{SPACE}]*{_PART}@{_PART}\\.{_PART}[{SPACE}]*$"
_EMAIL_LENGTH = f"^[{SPACE}]*[^{SPACE}]{{1,{EMAIL_MAX}}}[{SPACE}]*$"

Password = Annotated[
    StrictStr,
    Field(
        description=f"{PASSWORD_MIN} to {PASSWORD_MAX} characters.",
        # Keywords only: pydantic's own length check would answer for core.check_password.
        json_schema_extra={
            "minLength": PASSWORD_MIN,
            "maxLength": PASSWORD_MAX,
            **patterns(STORABLE),
        },
    ),
]
Email = Annotated[
    StrictStr,
    Field(
        description=f"An address like name@example.org, at most {EMAIL_MAX} characters.",
        json_schema_extra=patterns(_EMAIL, _EMAIL_LENGTH),
    ),
]
# Logging in checks nothing but the characters: any other mismatch is a wrong password (401).
Credential = Annotated[StrictStr, Field(json_schema_extra=patterns(STORABLE))]

# api/idempotency.py: 1 to KEY_MAX printable characters (header values are Latin-1). None is a
# space at either end: HTTP servers strip a header value's outer spaces.
_KEY_EDGE = char_class("".join(c for c in map(chr, range(256)) if c.isprintable() and c != " "))
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "Makes a retry safe: the same request with the same key replays the first "
    "answer; the key with another request gets 422",
    "schema": {
        "type": "string",
        "pattern": f"^[{_KEY_EDGE}](?:[{_KEY_EDGE} ]{{0,{KEY_MAX - 2}}}[{_KEY_EDGE}])?$",
    },
}
"""The header every v1 write takes (a parameter of no route: app.py adds it to each)."""


class Registration(Model):
    username: Username = Field(examples=["alice"])
    password: Password = Field(examples=["correct horse battery staple"])
    email: Email | None = Field(default=None, examples=["alice@example.org"])


class Login(Model):
    username: Credential = Field(examples=["alice"])
    password: Credential = Field(examples=["correct horse battery staple"])


class NewChat(Model):
    name: ChatName = Field(examples=["project x"])
    users: list[BodyId] = Field(
        default_factory=list, description="Members besides the caller.", examples=[[2, 3]]
    )


class ChatChange(Model):
    name: ChatName | None = Field(default=None, examples=["project y"])
    users: list[BodyId] | None = Field(
        default=None,
        description="The complete new member list: not empty, and with the chat's owner in it.",
        examples=[[1, 2, 4]],
        json_schema_extra={"minItems": 1},
    )


class MessageText(Model):
    text: Text = Field(examples=["hello"])


class NewMessage(MessageText):
    reply_to: BodyId | None = Field(
        default=None, description="The id of a message of the same chat that this one answers"
    )


class ReadMarker(Model):
    seq: StrictInt = Field(ge=0, le=SEQ_MAX, examples=[42], description="A JSON integer.")


class AccountOut(Model):
    id: int
    username: str
    email: str | None
    role: Role = Field(examples=["user"])
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    blocked: bool


class RulesOut(Model):
    """What the server accepts, for a client to say before it submits (all lengths in
    characters, as the server counts them: code points)."""

    text_max_length: int = Field(examples=[10000])
    username_max_length: int = Field(examples=[64])
    password_min_length: int = Field(examples=[8])
    password_max_length: int = Field(examples=[1024])
    chat_name_max_length: int = Field(examples=[128])


class TokenOut(Model):
    token: str
    expires_at: str = Field(examples=["2026-12-25T12:00:00.000000Z"])
    user: AccountOut


class QuoteOut(Model):
    id: int
    author: int
    excerpt: str | None = Field(
        description="The first 100 characters of its current text; null once it is deleted"
    )
    deleted: bool


class ReactionOut(Model):
    emoji: str = Field(examples=["👍"])
    count: int
    me: bool = Field(description="Whether the viewer is among those who reacted with it")


class MessageOut(Model):
    id: int
    chat: int
    seq: int
    author: int
    text: str | None = Field(description="null for a deleted message")
    created_at: str
    edited_at: str | None
    deleted: bool
    reply_to: QuoteOut | None = Field(description="The message this one answers, as it is now")
    reactions: list[ReactionOut] = Field(
        description="In the order each emoji was first put on the message; [] when deleted"
    )
    mentions: list[int] = Field(
        description="The ids of the chat members its `@username`s named when it was sent or "
        "last edited, in order of first appearance"
    )
    mentions_me: bool = Field(description="Whether the viewer is among `mentions`")


class ReactionsOut(Model):
    id: int = Field(description="The message's id")
    chat: int
    reactions: list[ReactionOut]


class MessagePreview(Model):
    id: int
    seq: int
    author: int
    excerpt: str | None
    created_at: str
    edited: bool
    deleted: bool


class ChatOut(Model):
    id: int
    name: str | None = Field(description="null for a private chat")
    is_private: bool
    owner: int | None
    users: list[int]
    created_at: str
    last_message_at: str
    last_seq: int
    last_read_seq: int
    unread_count: int
    last_message: MessagePreview | None
    mention_count: int = Field(
        description="Unread messages (after `last_read_seq`, not deleted) that mention the viewer"
    )


class ChatList(Model):
    chats: list[ChatOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done")


class MessagePage(Model):
    messages: list[MessageOut]
    before_seq: int | None = Field(
        description="Pass as `before_seq` for older messages; null when there are none"
    )
    after_seq: int = Field(description="Pass as `after_seq` for newer messages")


class ChatWithMessages(ChatOut):
    messages: list[MessageOut]
    before_seq: int | None


class ProfileOut(Model):
    """What any logged-in user may see of another: no email, no password hash."""

    id: int
    username: str
    role: Role = Field(examples=["user"])
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    blocked: bool


class UserList(Model):
    users: list[ProfileOut] = Field(description="Ordered by name; empty when nobody matches")


class HighlightOut(Model):
    start: int = Field(description="The found word's first character, counted in code points")
    end: int = Field(description="Just past its last character: text[start:end] is the word")


class SearchResult(Model):
    message: MessageOut
    highlights: list[HighlightOut] = Field(
        description="Each word of the text that a query word finds, in order. Offsets count "
        "Unicode code points; a JavaScript string counts UTF-16 units, so a character outside "
        "the Basic Multilingual Plane (most emoji) before a word counts 2 there, not 1"
    )


class SearchPage(Model):
    results: list[SearchResult] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done")
