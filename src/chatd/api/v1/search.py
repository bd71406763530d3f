"""v1 search: messages the caller may read whose text holds some words."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chatd.api import render
from chatd.api.auth import CallerDep
from chatd.api.docs import error_responses
from chatd.api.schemas import MAX_ID
from chatd.api.v1.cursors import CursorQuery, ScopeQuery, decode_message, encode_message
from chatd.api.v1.schemas import SearchPage
from chatd.core import search as core

router = APIRouter(tags=["Search"])


def _store(request: Request) -> core.SearchStore:
    store: core.SearchStore = request.app.state.store
    return store


@router.get(
    "/search",
    response_model=SearchPage,
    responses=error_responses(401, 403, 404),
    summary="Messages whose text holds some words, newest first, with the words marked",
    description=(
        "Words in any order, the last one also as a prefix (`prag` finds `Prague`), "
        "case-insensitively, in any script. A word is a run of letters and digits: `q` holds "
        f"1 to {core.WORDS_MAX} of them, in at most {core.QUERY_MAX} characters (else 400 "
        "`invalid_query`). Searches the caller's chats; moderators may pass `scope=all` "
        "(others get 403 `not_moderator`). `chat` limits it to one chat the caller may read "
        "(else 404, as any read of that chat). Deleted messages are never found, edited ones "
        "by their new text only."
    ),
)
async def search(
    caller: CallerDep,
    request: Request,
    q: Annotated[
        str,
        # A keyword only: the core's check answers, with its own message.
        Query(description="The words to find", json_schema_extra={"maxLength": core.QUERY_MAX}),
    ],
    chat: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this chat")] = None,
    author: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this author")] = None,
    limit: Annotated[int, Query(ge=1, le=core.LIMIT_MAX)] = core.LIMIT_DEFAULT,
    cursor: CursorQuery = None,
    scope: ScopeQuery = "mine",
) -> Response:
    before = None if cursor is None else decode_message(cursor)
    found = await core.search(
        _store(request),
        caller,
        q,
        chat=chat,
        author=author,
        everyone=scope == "all",
        limit=limit,
        before=before,
    )
    results = [
        {
            "message": render.message_v1(result.message, caller.id),
            "highlights": [{"start": h.start, "end": h.end} for h in result.highlights],
        }
        for result in found.found
    ]
    next_cursor = None if found.more_before is None else encode_message(found.more_before)
    return render.json({"results": results, "next_cursor": next_cursor})
