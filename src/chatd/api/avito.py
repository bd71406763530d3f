"""The Avito chat API: POST-only JSON methods, exactly as its existing clients expect them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from chatd.api import render
from chatd.api.bodies import parse
from chatd.api.deps import settings_of, store_of
from chatd.api.docs import error_responses
from chatd.api.ratelimit import client_address, limited
from chatd.api.schemas import (
    AvitoChatOut,
    AvitoMessageOut,
    ChatAdd,
    ChatsGet,
    IdOut,
    MessageAdd,
    MessagesGet,
    UserAdd,
    openapi_body,
)
from chatd.core import chats, messages, users
from chatd.core.models import Page

router = APIRouter(tags=["Avito chat API"])
KEY_SCHEME = "AvitoApiKey"
# Unlimited unless CHATD_RATE_LIMIT_AVITO is set: then per client address.
_limited = limited("avito", by=client_address)


@router.post(
    "/users/add",
    status_code=201,
    response_model=IdOut,
    responses=error_responses(409, 429),
    openapi_extra=openapi_body(UserAdd),
    summary="Add a user",
)
@_limited
async def users_add(request: Request) -> Response:
    body = parse(await request.body(), UserAdd)
    user_id = await users.add_user(store_of(request), body.username)
    return render.json({"id": user_id}, 201)


@router.post(
    "/chats/add",
    status_code=201,
    response_model=IdOut,
    responses=error_responses(404, 409, 429),
    openapi_extra=openapi_body(ChatAdd),
    summary="Create a chat between users",
    description=(
        "The name must not be held by another chat made here (409 `chat_name_taken`). "
        "Groups made through API v1 do not count: they may share a name with any chat."
    ),
)
@_limited
async def chats_add(request: Request) -> Response:
    body = parse(await request.body(), ChatAdd)
    chat_id = await chats.create_chat(store_of(request), body.name, body.users)
    return render.json({"id": chat_id}, 201)


@router.post(
    "/messages/add",
    status_code=201,
    response_model=IdOut,
    responses=error_responses(403, 404, 429),
    openapi_extra=openapi_body(MessageAdd),
    summary="Send a message to a chat on behalf of a user",
    description="`reply_to` answers a message of the same chat (else 400 `invalid_reply`); "
    "the chat's messages then show it as `reply_to` (only those that have one).",
)
@_limited
async def messages_add(request: Request) -> Response:
    body = parse(await request.body(), MessageAdd)
    max_length = settings_of(request).max_text_length
    message = await messages.post_message(
        store_of(request),
        body.chat,
        body.author,
        body.text,
        max_length=max_length,
        reply_to=body.reply_to,
    )
    return render.json({"id": message.id}, 201)


@router.post(
    "/chats/get",
    response_model=list[AvitoChatOut],
    responses=error_responses(404, 429),
    openapi_extra=openapi_body(ChatsGet),
    summary="A user's chats, most recent activity first",
)
@_limited
async def chats_get(request: Request) -> Response:
    body = parse(await request.body(), ChatsGet)
    document = await chats.user_chats_document(store_of(request), body.user)
    return Response(document, media_type="application/json")


@router.post(
    "/messages/get",
    response_model=list[AvitoMessageOut],
    responses=error_responses(404, 429),
    openapi_extra=openapi_body(MessagesGet),
    summary="A chat's messages, oldest first",
    description=(
        "Without `limit`, every message of the chat. With `limit`, one page: the newest `limit` "
        "messages, or those just before the `before` message id, or just after the `after` one."
    ),
)
@_limited
async def messages_get(request: Request) -> Response:
    body = parse(await request.body(), MessagesGet)
    store = store_of(request)
    if body.limit is not None or body.before is not None or body.after is not None:
        page = Page(limit=body.limit, before=body.before, after=body.after)
        document = await messages.messages_document(store, body.chat, page)
        return Response(document, media_type="application/json")
    documents = messages.history_documents(store, body.chat)
    # Raises ChatNotFound while we can still answer 404.
    first = await anext(documents, b"[]")
    second = await anext(documents, None) if first != b"[]" else None
    if second is None:  # a history of one slice goes out whole, with its length
        return Response(first, media_type="application/json")
    return StreamingResponse(_json_array(first, second, documents), media_type="application/json")


async def _json_array(
    first: bytes, second: bytes, rest: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    # A long history goes out slice by slice, each built by the database: memory stays bounded
    # by a few slices (STREAM_BATCH messages each).
    yield first[:-1]
    yield b"," + second[1:-1]
    async for document in rest:
        yield b"," + document[1:-1]
    yield b"]"


def document_key(schema: dict[str, Any]) -> None:
    """Marks every Avito method of an OpenAPI schema as needing the key (CHATD_AVITO_API=key;
    api/fastpath.py checks it)."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[KEY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The Avito API key the server was given (CHATD_AVITO_API_KEY)",
    }
    unauthenticated = {
        "description": "No Avito API key, or a wrong one",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for route in router.routes:
        assert isinstance(route, APIRoute)
        for operation in schema["paths"][route.path].values():
            operation["security"] = [{KEY_SCHEME: []}]
            operation["responses"]["401"] = unauthenticated
