"""v1 messages: history pages by seq, sending, editing, deleting, and private (direct) sends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chatd.api import render
from chatd.api.auth import CallerDep
from chatd.api.bodies import json_body
from chatd.api.deps import settings_of, store_of
from chatd.api.docs import error_responses
from chatd.api.idempotency import ReceiptDep
from chatd.api.ratelimit import caller_id, limited
from chatd.api.replies import replies
from chatd.api.schemas import Id, openapi_body
from chatd.api.v1.schemas import MessageOut, MessagePage, MessageText, NewMessage
from chatd.core import messages
from chatd.core.models import Message, SeqPage

router = APIRouter(tags=["Messages"])


@router.get(
    "/chats/{chat_id}/messages",
    response_model=MessagePage,
    responses=error_responses(401, 404),
    summary="A page of history, oldest first: the newest, or just before/after a seq",
)
async def history(
    chat_id: Id,
    caller: CallerDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=messages.SEQ_PAGE_MAX)] = 20,
    before_seq: Annotated[int | None, Query(ge=0, le=messages.SEQ_MAX)] = None,
    after_seq: Annotated[int | None, Query(ge=0, le=messages.SEQ_MAX)] = None,
) -> Response:
    page = SeqPage(limit=limit, before_seq=before_seq, after_seq=after_seq)
    found = await messages.history(store_of(request), caller, chat_id, page)
    # Seqs have no gaps, so the cursors follow from the page: nothing is older than seq 1.
    if found:
        older = found[0].seq if found[0].seq > 1 else None
        newer = found[-1].seq
    else:
        older = None
        newer = after_seq if after_seq is not None else max((before_seq or 1) - 1, 0)
    out = {
        "messages": [render.message_v1(m, caller.id) for m in found],
        "before_seq": older,
        "after_seq": newer,
    }
    return render.json(out)


SendBody = Annotated[NewMessage, json_body(NewMessage)]
_SEND_BODY = openapi_body(NewMessage, component=True)
TextBody = Annotated[MessageText, json_body(MessageText)]
_TEXT_BODY = openapi_body(MessageText, component=True)


@router.post(
    "/chats/{chat_id}/messages",
    status_code=201,
    response_model=MessageOut,
    responses=error_responses(401, 403, 404, 429),
    openapi_extra=_SEND_BODY,
    summary="Send a message to a chat",
    description="`reply_to` answers a message of the same chat (else 400 `invalid_reply`); "
    "`@username` in the text mentions that member of the chat.",
)
@limited("sends", by=caller_id)
@replies(201, render.message_v1, for_caller=True)
async def send(
    chat_id: Id, caller: CallerDep, body: SendBody, request: Request, receipt: ReceiptDep
) -> Message:
    max_length = settings_of(request).max_text_length
    return await messages.send(
        store_of(request),
        caller,
        chat_id,
        body.text,
        max_length=max_length,
        reply_to=body.reply_to,
        receipt=receipt,
    )


@router.post(
    "/direct/{user_id}/messages",
    status_code=201,
    response_model=MessageOut,
    responses=error_responses(401, 403, 404, 429),
    summary="Send to a user in your private chat with them, created on first use",
    description="`user_id` is another user than the caller (else 400 `invalid_user`). "
    "`reply_to` answers a message of that private chat (else 400 `invalid_reply`).",
    openapi_extra=_SEND_BODY,
)
@limited("sends", by=caller_id)  # one budget with send(): a direct message is a send too
@replies(201, render.message_v1, for_caller=True)
async def send_direct(
    user_id: Id, caller: CallerDep, body: SendBody, request: Request, receipt: ReceiptDep
) -> Message:
    max_length = settings_of(request).max_text_length
    return await messages.send_direct(
        store_of(request),
        caller,
        user_id,
        body.text,
        max_length=max_length,
        reply_to=body.reply_to,
        receipt=receipt,
    )


@router.patch(
    "/messages/{message_id}",
    response_model=MessageOut,
    responses=error_responses(401, 403, 404, 409),
    openapi_extra=_TEXT_BODY,
    summary="Edit a message (its author)",
    description="Its `@username` mentions are found again in the new text.",
)
@replies(200, render.message_v1, for_caller=True)
async def edit(
    message_id: Id, caller: CallerDep, body: TextBody, request: Request, receipt: ReceiptDep
) -> Message:
    max_length = settings_of(request).max_text_length
    return await messages.edit(
        store_of(request), caller, message_id, body.text, max_length=max_length, receipt=receipt
    )


@router.delete(
    "/messages/{message_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Delete a message (its author or a moderator), leaving a tombstone",
)
@replies(204)
async def delete(message_id: Id, caller: CallerDep, request: Request, receipt: ReceiptDep) -> None:
    await messages.delete(store_of(request), caller, message_id, receipt)
