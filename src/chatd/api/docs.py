"""OpenAPI fragments shared by the routes: the error responses each one can give."""

from __future__ import annotations

from typing import Any

from chatd.api.schemas import ErrorOut

_DESCRIPTIONS = {
    400: "Malformed JSON, or a missing, wrongly typed or invalid field",
    401: "No valid bearer token (or wrong username or password)",
    403: "The caller may not do this (or is blocked)",
    404: "An id that does not exist, or that the caller may not see",
    409: "A conflict: a name is taken, the chat is private, a request is in flight",
    413: "Request body over the size limit",
    422: "An Idempotency-Key reused with a different request",
    429: "Rate limit reached: see Retry-After",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """400 and 413 always; the given statuses besides."""
    return {
        status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]}
        for status in sorted({400, 413, *statuses})
    }
