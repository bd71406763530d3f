"""The one place where errors become HTTP responses.

Core errors map by class to a status; HTTP-level errors (unknown route, wrong method, body too
large, malformed request) get the same JSON shape:
    {"error": {"code": "<machine_code>", "message": "<human sentence>"}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException

from chatd.core import errors as core

log = logging.getLogger("chatd.api")

STATUS: tuple[tuple[type[core.ChatdError], int], ...] = (
    (core.InvalidInput, 400),
    (core.Forbidden, 403),
    (core.NotFound, 404),
    (core.Conflict, 409),
)


class BadRequest(core.ChatdError):
    """The request itself is unusable: not JSON, wrong shape, wrong types."""

    code = "bad_request"


class PayloadTooLarge(core.ChatdError):
    code = "payload_too_large"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status, headers=headers, media_type="application/json")


def status_of(exc: core.ChatdError) -> int:
    if isinstance(exc, BadRequest):
        return 400
    if isinstance(exc, PayloadTooLarge):
        return 413
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


async def _chatd_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, core.ChatdError)
    return error_response(status_of(exc), exc.code, exc.message)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request")


def install(app: FastAPI) -> None:
    app.add_exception_handler(core.ChatdError, _chatd_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
