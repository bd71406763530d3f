"""Request and response shapes, and the one function that turns a request body into a model.

Bodies are parsed as JSON whatever the Content-Type says: Avito clients send bare `curl -d`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr
from pydantic import ValidationError as PydanticValidationError

from chatd.api.errors import BadRequest, describe_validation_error

MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def _id(value: Any) -> int:
    # Ids are integers; the original Avito examples quote them, so "17" is accepted too.
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer id")
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"must be an id between 1 and {MAX_ID}")
    return value


Id = Annotated[
    int,
    BeforeValidator(_id),
    Field(
        json_schema_extra={"examples": [1]},
        description="An integer id (a string of digits is accepted too).",
    ),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UserAdd(Model):
    username: StrictStr = Field(examples=["user_1"])


class ChatAdd(Model):
    name: StrictStr = Field(examples=["chat_1"])
    users: list[Id] = Field(examples=[[1, 2]])


class MessageAdd(Model):
    chat: Id
    author: Id
    text: StrictStr = Field(examples=["hi"])


class ChatsGet(Model):
    user: Id


class MessagesGet(Model):
    chat: Id
    limit: StrictInt | None = Field(default=None, ge=1, le=1000)
    before: Id | None = None
    after: Id | None = None


class IdOut(Model):
    id: int


class AvitoChatOut(Model):
    id: int
    name: str
    users: list[int]
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    last_message_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])


class AvitoMessageOut(Model):
    id: int
    chat: int
    author: int
    text: str
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])


class ErrorDetail(Model):
    code: str = Field(examples=["user_not_found"])
    message: str = Field(examples=["user not found: 7"])


class ErrorOut(Model):
    error: ErrorDetail


M = TypeVar("M", bound=Model)


async def parse_body(request: Request, model: type[M]) -> M:
    """The body validated as `model`, or BadRequest naming the first offending field."""
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("request body is empty: send a JSON object", code="empty_body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest(
            f"request body must be a JSON object, got {_json_type(data)}", code="invalid_body"
        )
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise BadRequest(_describe(exc), code=_code(exc)) from exc


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _code(exc: PydanticValidationError) -> str:
    first = exc.errors()[0]
    return "missing_field" if first["type"] == "missing" else "invalid_field"


def _describe(exc: PydanticValidationError) -> str:
    first = exc.errors()[0]
    return describe_validation_error(tuple(first["loc"]), first["type"], first["msg"])


def openapi_body(model: type[Model]) -> dict[str, Any]:
    """The OpenAPI requestBody for a route that parses its body with parse_body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
