"""v1 search: messages the caller may read whose text holds some words."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from chatd.api import render
from chatd.api.auth import CallerDep
from chatd.api.docs import error_responses
from chatd.api.errors import BadRequest
from chatd.api.schemas import MAX_ID
from chatd.api.v1.schemas import SearchPage
from chatd.core import search as core
from chatd.core.models import MessageId

router = APIRouter(tags=["Search"])

# What encode() writes: "m:" and the last message id of the page. Nothing else, so int() never
# sees its looser forms.
_KEYSET = re.compile(r"m:([0-9]{1,19})")


def encode(message: MessageId) -> str:
    return base64.urlsafe_b64encode(f"m:{message}".encode()).decode().rstrip("=")


def decode(cursor: str) -> MessageId:
    """The message id, or BadRequest (`invalid_cursor`) unless encode() could have written it."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        keyset = _KEYSET.fullmatch(raw)
        if keyset is None or not 1 <= int(keyset[1]) <= MAX_ID:
            raise ValueError(raw)
        return int(keyset[1])
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not one this server gave out", code="invalid_cursor") from exc


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
    cursor: Annotated[
        str | None,
        Query(
            description="The next_cursor of the previous page, as given (else 400 `invalid_cursor`)"
        ),
    ] = None,
    scope: Annotated[Literal["mine", "all"], Query(description="all: moderators only")] = "mine",
) -> Response:
    before = None if cursor is None else decode(cursor)
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
            "message": render.message_v1(result.message),
            "highlights": [{"start": h.start, "end": h.end} for h in result.highlights],
        }
        for result in found.found
    ]
    next_cursor = None if found.more_before is None else encode(found.more_before)
    return render.json({"results": results, "next_cursor": next_cursor})
