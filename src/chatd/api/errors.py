"""The one place where errors become HTTP responses.

Core errors map by class to a status; HTTP-level errors (unknown route, wrong method, body too
large, malformed request, rate limits, idempotency conflicts) get the same JSON shape:
    {"error": {"code": "<machine_code>", "message": "<human sentence>"}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from chatd.api.methods import allowed_methods
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
    (core.Unavailable, 503),
    (core.OutcomeUnknown, 503),
)


MESSAGE_MAX = 2000  # characters: a message never echoes a client's input at length


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    if len(message) > MESSAGE_MAX:  # the last guard: messages quote input through core.quoted
        message = message[: MESSAGE_MAX - 1] + "…"
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status, headers=headers, media_type="application/json")


def status_of(exc: core.ChatdError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def response_to(exc: core.ChatdError) -> Response:
    """The HTTP answer to a core (or HTTP-level) error."""
    headers = exc.headers if isinstance(exc, HttpError) else None
    if isinstance(exc, core.Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, core.Unavailable):
        headers = {"Retry-After": "1"}
    return error_response(status_of(exc), exc.code, exc.message, headers)


async def _chatd_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, core.ChatdError)
    return response_to(exc)


def describe_validation_error(
    loc: tuple[int | str, ...], error: Mapping[str, Any]
) -> tuple[str, str]:
    """The code and the sentence for one pydantic error at `loc`, the field's path in the body
    or the query: the code a rule put in the error's context (api/schemas.py: `invalid_text`
    for a NUL in `text`), else missing_field or invalid_field."""
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    ruled = (error.get("ctx") or {}).get("code")
    if isinstance(ruled, str):
        code, message = ruled, str(error["msg"])
    elif error["type"] == "missing":
        code, message = "missing_field", f"field '{field}' is required"
    else:
        text = str(error["msg"]).removeprefix("Value error, ")
        code, message = "invalid_field", f"field '{field}' {text[0].lower()}{text[1:]}"
    # A key may hold a lone surrogate (json.loads lets one through); no JSON encoder writes it.
    return code, message.encode("utf-8", "backslashreplace").decode()


async def _validation_error(_request: Request, exc: Exception) -> Response:
    # FastAPI's own validation, of v1 path and query parameters (bodies are read by
    # api/bodies.py): a 400 naming the parameter, as for a body's field.
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    if loc and loc[0] in ("query", "path", "header"):
        loc = loc[1:]
    return error_response(400, *describe_validation_error(loc, first))


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = exc.headers
    path = core.cut(request.url.path, 200)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {path}"
        allowed = allowed_methods(request.app.routes, request.url.path)
        headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
    else:
        message = str(exc.detail)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, message, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request")


def install(app: FastAPI) -> None:
    app.add_exception_handler(core.ChatdError, _chatd_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
