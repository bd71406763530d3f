"""The one reader of what clients send: an Avito body, a v1 body, a stream frame.

    raw -> JSON ------------> an object ----> the model's fields
           empty_body         invalid_body    missing_field, invalid_field, or a rule's own
           malformed_json                     code (api/schemas.py: `invalid_text`)

Each refusal is BadRequest with the code above and one wording, whoever reads: both APIs
answer it as a 400 (api/errors.py), and the stream closes with 4002 and its message.

JSON is read two ways, and existing clients rely on each (tests/api pin both): RFC 8259 as
orjson reads it, for Avito bodies and stream frames; and Python's json module, as FastAPI
read v1 bodies, which also takes NaN, Infinity, lone surrogates and integers past 64 bits, so
that v1 refuses such a value with its field's own code (`invalid_field`, `invalid_text`).
Either way a body neither reads is described by orjson, so that the message is the same.
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from chatd.api.errors import BadRequest, describe_validation_error

M = TypeVar("M", bound=BaseModel)

BODY = "request body"


def parse(raw: bytes | str, model: type[M], *, python_json: bool = False, subject: str = BODY) -> M:
    """`raw` validated as `model`, or BadRequest naming what is wrong with it: the whole of it
    (empty, not JSON, not an object), or its first offending field."""
    if not raw.strip():
        raise BadRequest(f"{subject} is empty: send a JSON object", code="empty_body")
    data = _python_json(raw, subject) if python_json else _json(raw, subject)
    if not isinstance(data, dict):
        raise BadRequest(
            f"{subject} must be a JSON object, got {json_type(data)}", code="invalid_body"
        )
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a key with a lone surrogate, which only Python's json reads
            raise _malformed(raw, subject) from exc
        code, message = describe_validation_error(tuple(first["loc"]), first)
        raise BadRequest(message, code=code) from exc


def json_body(model: type[M]) -> Any:
    """A v1 route's body, read with `parse`: `body: Annotated[Model, json_body(Model)]`, and
    `openapi_extra=openapi_body(Model, component=True)` on the route to document it."""

    async def parsed(request: Request) -> M:
        raw = await request.body()
        if raw and not _says_json(request.headers.get("content-type")):
            raise BadRequest(
                f"{BODY} must be a JSON object, sent as Content-Type: application/json",
                code="invalid_body",
            )
        return parse(raw, model, python_json=True)

    return Depends(parsed)


def json_type(value: object) -> str:
    """How a JSON value's type reads in an error message: "an array", "a number", "null"..."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _json(raw: bytes | str, subject: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{subject} is not valid JSON: {exc}", code="malformed_json") from exc


def _python_json(raw: bytes | str, subject: str) -> Any:
    try:
        return json.loads(raw)
    # Invalid UTF-8, nesting past the recursion limit, a number of thousands of digits.
    except (ValueError, RecursionError) as exc:
        raise _malformed(raw, subject) from exc


def _malformed(raw: bytes | str, subject: str) -> BadRequest:
    try:
        _json(raw, subject)
    except BadRequest as exc:
        return exc
    return BadRequest(f"{subject} is not valid JSON", code="malformed_json")


def _says_json(content_type: str | None) -> bool:
    # FastAPI's rule for v1 bodies, kept: application/json or any +json type, and nothing else.
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
