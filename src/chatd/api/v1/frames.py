"""The frames of the WebSocket stream (api/v1/stream.py): those the server sends, as JSON
schemas for clients, and the two a client sends (`Auth`, `Ping`), read with api/bodies.py.

docs/events/<type>.json is each event type's schema, generated from these models
(`python -m chatd.api.v1.frames docs/events`); tests/realtime pin the files to the models and
validate every frame the server sends against them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from chatd.api.v1.schemas import ChatOut, MessageOut, ReactionOut


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatRef(Frame):
    id: int


class ReadMarkerRef(Frame):
    id: int
    last_read_seq: int


class MessageEvent(Frame):
    pos: int = Field(description="The user's stream position: resume after it")
    message: MessageOut


class MessageCreated(MessageEvent):
    """A message was sent to one of the user's chats (through either API, or privately);
    `message.mentions_me` says whether it mentions the user."""

    type: Literal["message.created"]


class MessageEdited(MessageEvent):
    """A message was edited; `message` is as it is now."""

    type: Literal["message.edited"]


class MessageDeleted(MessageEvent):
    """A message was deleted; `message` is its tombstone (deleted: true, text: null)."""

    type: Literal["message.deleted"]


class ReactionsRef(Frame):
    id: int = Field(description="The message's id")
    chat: int
    reactions: list[ReactionOut] = Field(description="Its totals now; `me` is the user's")


class MessageReactions(Frame):
    """Someone put a reaction on a message of one of the user's chats, or took theirs off."""

    type: Literal["message.reactions"]
    pos: int = Field(description="The user's stream position: resume after it")
    message: ReactionsRef


class ChatEvent(Frame):
    pos: int = Field(description="The user's stream position: resume after it")
    chat: ChatOut = Field(description="The chat as the user sees it now")


class ChatCreated(ChatEvent):
    """The user is in a new chat (a group made with them in it, or a first private message)."""

    type: Literal["chat.created"]


class ChatUpdated(ChatEvent):
    """A chat of the user's was renamed, changed members or owner."""

    type: Literal["chat.updated"]


class MemberAdded(ChatEvent):
    """The user was added to a chat."""

    type: Literal["member.added"]


class MemberRemoved(Frame):
    """The user left or was removed from a chat: no more of its events follow."""

    type: Literal["member.removed"]
    pos: int
    chat: ChatRef


class ChatDeleted(Frame):
    """A chat of the user's was deleted, with all its messages."""

    type: Literal["chat.deleted"]
    pos: int
    chat: ChatRef


class ChatRead(Frame):
    """The user's read marker moved (on any of their devices)."""

    type: Literal["chat.read"]
    pos: int
    chat: ReadMarkerRef


class Ready(Frame):
    """The answer to authentication: events after `pos` follow."""

    type: Literal["ready"]
    pos: int
    user: int


class ResyncRequired(Frame):
    """The requested position is no longer (or not yet) in the log: reload the state over HTTP;
    events after `pos` follow."""

    type: Literal["resync_required"]
    pos: int


class Pong(Frame):
    """The answer to a client's {"type": "ping"}."""

    type: Literal["pong"]


EVENTS: dict[str, type[Frame]] = {
    "message.created": MessageCreated,
    "message.edited": MessageEdited,
    "message.deleted": MessageDeleted,
    "message.reactions": MessageReactions,
    "chat.created": ChatCreated,
    "chat.updated": ChatUpdated,
    "chat.deleted": ChatDeleted,
    "member.added": MemberAdded,
    "member.removed": MemberRemoved,
    "chat.read": ChatRead,
}
CONTROL: dict[str, type[Frame]] = {
    "ready": Ready,
    "resync_required": ResyncRequired,
    "pong": Pong,
}


def position(value: Any) -> int | None:
    """A stream position a client sends back (in the auth frame or as ?pos=): a JSON integer
    or a string of its digits, in 0..2**63-1; ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError("must be a position this server gave out")
    return value


class ClientFrame(BaseModel):
    """A frame a client sends: fields the server does not know are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Auth(ClientFrame):
    """The first frame, unless the Authorization header authenticated the socket."""

    type: Literal["auth"]
    token: StrictStr = Field(min_length=1)
    pos: Annotated[int | None, BeforeValidator(position)] = None


class Ping(ClientFrame):
    """The one frame a client sends after `ready` (browsers cannot send WebSocket pings)."""

    type: Literal["ping"]


def schemas() -> dict[str, bytes]:
    """Each frame type's JSON schema file: name -> content."""
    return {
        f"{name}.json": orjson.dumps(
            model.model_json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        )
        + b"\n"
        for name, model in {**EVENTS, **CONTROL}.items()
    }


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name, content in schemas().items():
        (target / name).write_bytes(content)
