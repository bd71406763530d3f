"""v1 chats: list, create, show, change, leave, delete, read markers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chatd.api import render
from chatd.api.auth import CallerDep
from chatd.api.bodies import json_body
from chatd.api.deps import store_of
from chatd.api.docs import error_responses
from chatd.api.idempotency import ReceiptDep
from chatd.api.ratelimit import caller_id, limited
from chatd.api.replies import replies
from chatd.api.schemas import Id, openapi_body
from chatd.api.v1 import cursors
from chatd.api.v1.schemas import (
    ChatChange,
    ChatList,
    ChatOut,
    ChatWithMessages,
    NewChat,
    ReadMarker,
)
from chatd.core import chats, messages
from chatd.core.models import ChatInfo, SeqPage

router = APIRouter(tags=["Chats"])

LIST_DEFAULT = 20
LIST_MAX = 100


@router.get(
    "/chats",
    response_model=ChatList,
    responses=error_responses(401, 403),
    summary="The caller's chats (or every chat, for moderators), latest activity first",
)
async def list_chats(
    caller: CallerDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = LIST_DEFAULT,
    cursor: cursors.CursorQuery = None,
    scope: cursors.ScopeQuery = "mine",
) -> Response:
    after = None if cursor is None else cursors.decode(cursor)
    # One more than asked tells whether a next page exists without a count query.
    found = await chats.list_chats(
        store_of(request), caller, everyone=scope == "all", limit=limit + 1, after=after
    )
    page = found[:limit]
    next_cursor = cursors.encode(page[-1]) if len(found) > limit else None
    return render.json({"chats": [render.chat_info(c) for c in page], "next_cursor": next_cursor})


@router.post(
    "/chats",
    status_code=201,
    response_model=ChatOut,
    responses=error_responses(401, 404, 409, 429),
    openapi_extra=openapi_body(NewChat, component=True),
    summary="Create a group chat owned by the caller",
    description=(
        "Names need not be unique: groups may share a name, with each other and with chats "
        "made through the Avito API, so a name is never refused for being in use."
    ),
)
@limited("chat_creations", by=caller_id)
@replies(201, render.chat_info)
async def create_chat(
    caller: CallerDep,
    body: Annotated[NewChat, json_body(NewChat)],
    request: Request,
    receipt: ReceiptDep,
) -> ChatInfo:
    return await chats.create_group(store_of(request), caller, body.name, body.users, receipt)


@router.get(
    "/chats/{chat_id}",
    response_model=ChatWithMessages,
    responses=error_responses(401, 404),
    summary="A chat with its latest messages",
)
async def show_chat(
    chat_id: Id,
    caller: CallerDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=messages.SEQ_PAGE_MAX)] = 20,
) -> Response:
    store = store_of(request)
    info = await chats.access_chat(store, caller, chat_id)
    latest = await messages.history(store, caller, chat_id, SeqPage(limit=limit))
    out = render.chat_info(info)
    out["messages"] = [render.message_v1(m, caller.id) for m in latest]
    out["before_seq"] = latest[0].seq if latest and latest[0].seq > 1 else None
    return render.json(out)


@router.patch(
    "/chats/{chat_id}",
    response_model=ChatOut,
    responses=error_responses(401, 403, 404, 409),
    openapi_extra=openapi_body(ChatChange, component=True),
    summary="Rename a chat or set its members (owner or moderator)",
    description=(
        "The new members must include the chat's owner (else 400 `invalid_users`). A group "
        "takes any name. A chat made through the Avito API (no owner: moderators only) keeps "
        "its name unique among those chats: 409 `chat_name_taken` if another holds it."
    ),
)
@replies(200, render.chat_info)
async def change_chat(
    chat_id: Id,
    caller: CallerDep,
    body: Annotated[ChatChange, json_body(ChatChange)],
    request: Request,
    receipt: ReceiptDep,
) -> ChatInfo:
    store = store_of(request)
    return await chats.update_chat(store, caller, chat_id, body.name, body.users, receipt)


@router.post(
    "/chats/{chat_id}/leave",
    status_code=204,
    responses=error_responses(401, 403, 404, 409),
    summary="Leave a chat (an owner hands it to the longest-standing member)",
)
@replies(204)
async def leave_chat(chat_id: Id, caller: CallerDep, request: Request, receipt: ReceiptDep) -> None:
    await chats.leave_chat(store_of(request), caller, chat_id, receipt)


@router.delete(
    "/chats/{chat_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Delete a chat with all its messages (owner or moderator)",
)
@replies(204)
async def delete_chat(
    chat_id: Id, caller: CallerDep, request: Request, receipt: ReceiptDep
) -> None:
    await chats.delete_chat(store_of(request), caller, chat_id, receipt)


@router.post(
    "/chats/{chat_id}/read",
    response_model=ChatOut,
    responses=error_responses(401, 403, 404),
    openapi_extra=openapi_body(ReadMarker, component=True),
    summary="Mark everything up to seq as read",
)
@replies(200, render.chat_info)
async def mark_read(
    chat_id: Id,
    caller: CallerDep,
    body: Annotated[ReadMarker, json_body(ReadMarker)],
    request: Request,
    receipt: ReceiptDep,
) -> ChatInfo:
    return await chats.mark_read(store_of(request), caller, chat_id, body.seq, receipt)
