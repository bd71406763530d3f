"""Request and response shapes of API v1, as documented in /openapi.json."""

from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from chatd.api.schemas import Id, Model
from chatd.core.messages import SEQ_MAX


class Registration(Model):
    username: StrictStr = Field(examples=["alice"])
    password: StrictStr = Field(examples=["correct horse battery staple"])
    email: StrictStr | None = Field(default=None, examples=["alice@example.org"])


class Login(Model):
    username: StrictStr = Field(examples=["alice"])
    password: StrictStr = Field(examples=["correct horse battery staple"])


class NewChat(Model):
    name: StrictStr = Field(examples=["project x"])
    users: list[Id] = Field(default_factory=list, examples=[[2, 3]])


class ChatChange(Model):
    name: StrictStr | None = Field(default=None, examples=["project y"])
    users: list[Id] | None = Field(
        default=None, description="The complete new member list.", examples=[[1, 2, 4]]
    )


class NewMessage(Model):
    text: StrictStr = Field(examples=["hello"])


class ReadMarker(Model):
    seq: StrictInt = Field(ge=0, le=SEQ_MAX, examples=[42])


class AccountOut(Model):
    id: int
    username: str
    email: str | None
    role: str = Field(examples=["user"])
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    blocked: bool


class TokenOut(Model):
    token: str
    expires_at: str = Field(examples=["2026-12-25T12:00:00.000000Z"])
    user: AccountOut


class MessageOut(Model):
    id: int
    chat: int
    seq: int
    author: int
    text: str | None = Field(description="null for a deleted message")
    created_at: str
    edited_at: str | None
    deleted: bool


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
    role: str = Field(examples=["user"])
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    blocked: bool


class UserList(Model):
    users: list[ProfileOut] = Field(description="Ordered by name; empty when nobody matches")
