"""v1 reactions: a member puts an emoji on a message, or takes theirs off."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from chatd.api import render
from chatd.api.auth import CallerDep
from chatd.api.deps import store_of
from chatd.api.docs import error_responses
from chatd.api.emoji import LONGEST, check_emoji
from chatd.api.idempotency import ReceiptDep
from chatd.api.ratelimit import caller_id, limited
from chatd.api.replies import replies
from chatd.api.schemas import Id
from chatd.api.v1.schemas import ReactionsOut
from chatd.core import messages
from chatd.core.models import Message, UserId

router = APIRouter(tags=["Messages"])

Emoji = Annotated[
    str,
    # A keyword only: check_emoji answers, with its own message and code.
    Path(
        description="One emoji, percent-encoded (`%F0%9F%91%8D` is 👍): skin tones, ZWJ "
        "sequences, flags and keycaps included; a less-qualified spelling counts as the "
        "fully-qualified one (❤ as ❤️). Anything else: 400 `invalid_emoji`.",
        json_schema_extra={"maxLength": LONGEST},
    ),
]

_DESCRIPTION = (
    "Only the chat's members react (a moderator who is not one gets 403 `not_a_member`); a "
    "deleted message refuses (409 `message_deleted`). Idempotent: the same call again answers "
    "the same totals and changes nothing. A change is a `message.reactions` event."
)


def reactions_v1(message: Message, viewer: UserId) -> dict[str, Any]:
    return {
        "id": message.id,
        "chat": message.chat,
        "reactions": render.reactions(message.reactions, viewer),
    }


@router.put(
    "/messages/{message_id}/reactions/{emoji}",
    response_model=ReactionsOut,
    responses=error_responses(401, 403, 404, 409, 429),
    summary="Put your reaction on a message",
    description=_DESCRIPTION,
)
@limited("sends", by=caller_id)  # a reaction is a write to a chat, as a send is
@replies(200, reactions_v1, for_caller=True)
async def react(
    message_id: Id, emoji: Emoji, caller: CallerDep, request: Request, receipt: ReceiptDep
) -> Message:
    checked = check_emoji(emoji)
    return await messages.react(
        store_of(request), caller, message_id, checked, on=True, receipt=receipt
    )


@router.delete(
    "/messages/{message_id}/reactions/{emoji}",
    response_model=ReactionsOut,
    responses=error_responses(401, 403, 404, 409, 429),
    summary="Take your reaction off a message",
    description=_DESCRIPTION,
)
@limited("sends", by=caller_id)
@replies(200, reactions_v1, for_caller=True)
async def unreact(
    message_id: Id, emoji: Emoji, caller: CallerDep, request: Request, receipt: ReceiptDep
) -> Message:
    checked = check_emoji(emoji)
    return await messages.react(
        store_of(request), caller, message_id, checked, on=False, receipt=receipt
    )
