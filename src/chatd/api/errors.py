"""The one place where errors become HTTP responses.

Core errors map by class to a status; HTTP-level errors (unknown route, wrong method, body too
large, malformed request, rate limits, idempotency conflicts) get the same JSON shape:
    {"error": {"code": "<machine_code>", "message": "<human sentence>"}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from chatd.core import errors as core

log = logging.getLogger("chatd.api")


class HttpError(core.ChatdError):
    """An error of the HTTP layer itself; carries its status and any headers."""

    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.headers = dict(headers or {})


class BadRequest(HttpError):
    """The request itself is unusable: not JSON, wrong shape, wrong types."""

    code = "bad_request"


class PayloadTooLarge(HttpError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(HttpError):
    status = 429
    code = "rate_limited"


class IdempotencyMismatch(HttpError):
    status = 422
    code = "idempotency_key_reused"


STATUS: tuple[tuple[type[core.ChatdError], int], ...] = (
    (core.InvalidInput, 400),
    (core.Unauthenticated, 401),
    (core.Forbidden, 403),
    (core.NotFound, 404),
    (core.Conflict, 409),
)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status, headers=headers, media_type="application/json")


def status_of(exc: core.ChatdError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


async def _chatd_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, core.ChatdError)
    headers = exc.headers if isinstance(exc, HttpError) else None
    if isinstance(exc, core.Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(status_of(exc), exc.code, exc.message, headers)


def describe_validation_error(loc: tuple[int | str, ...], kind: str, message: str) -> str:
    """A sentence naming the field, from a pydantic error's location, type and message."""
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    if kind == "missing":
        return f"field '{field}' is required"
    message = message.removeprefix("Value error, ")
    return f"field '{field}' {message[0].lower()}{message[1:]}"


async def _validation_error(_request: Request, exc: Exception) -> Response:
    # FastAPI's own validation (v1 path, query and body parameters): a 400 like parse_body's.
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    if first["type"] == "json_invalid":
        return error_response(400, "malformed_json", "request body is not valid JSON")
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    if not loc:
        return error_response(400, "invalid_body", "request body must be a JSON object")
    code = "missing_field" if first["type"] == "missing" else "invalid_field"
    return error_response(400, code, describe_validation_error(loc, first["type"], first["msg"]))


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
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
