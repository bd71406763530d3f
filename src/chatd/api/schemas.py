"""Request and response shapes, and the one function that turns an Avito body into a model.

Avito bodies are parsed as JSON whatever the Content-Type says: its clients send bare `curl -d`.
Every shape of both APIs derives from `Model`, which holds every string field to the one rule
for strings (core.users.check_characters) and refuses unknown fields; Avito bodies derive from
`LenientModel`, which ignores them instead.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from chatd.api.errors import EMPTY_BODY, BadRequest, describe_validation_error, json_type
from chatd.core.errors import InvalidInput
from chatd.core.users import INT64_MAX, check_characters

MAX_ID = INT64_MAX
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
    """The base of every shape: frozen, unknown fields refused, and no string field holding a
    NUL or a surrogate (refused with the field's own code, as the core would: `invalid_text`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*")
    @classmethod
    def _storable_strings(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            try:
                check_characters(value, field=info.field_name or "value")
            except InvalidInput as exc:
                raise PydanticCustomError("characters", exc.message, {"code": exc.code}) from exc
        return value


class LenientModel(Model):
    """An Avito body: its clients send fields it does not know, and those are ignored."""

    model_config = ConfigDict(extra="ignore")


class UserAdd(LenientModel):
    username: StrictStr = Field(examples=["user_1"])


class ChatAdd(LenientModel):
    name: StrictStr = Field(examples=["chat_1"])
    users: list[Id] = Field(examples=[[1, 2]])


class MessageAdd(LenientModel):
    chat: Id
    author: Id
    text: StrictStr = Field(examples=["hi"])


class ChatsGet(LenientModel):
    user: Id


class MessagesGet(LenientModel):
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
        raise BadRequest(EMPTY_BODY, code="empty_body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest(
            f"request body must be a JSON object, got {json_type(data)}", code="invalid_body"
        )
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        code, message = describe_validation_error(tuple(first["loc"]), first)
        raise BadRequest(message, code=code) from exc


def openapi_body(model: type[Model]) -> dict[str, Any]:
    """The OpenAPI requestBody for a route that parses its body with parse_body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
