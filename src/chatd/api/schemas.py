"""Request and response shapes of both APIs (api/bodies.py reads them from what clients send).

Avito bodies are parsed as JSON whatever the Content-Type says: its clients send bare `curl -d`.
Every shape of both APIs derives from `Model`, which holds every string field to the one rule
for strings (core.users.check_characters) and refuses unknown fields; Avito bodies derive from
`LenientModel`, which ignores them instead.

The core checks the rules and answers with its own error codes; the JSON Schema keywords below
only state the same rules for /openapi.json, built from the core's constants, so that a client
generated from the schema sends what the server accepts (tests/api/test_schemathesis.py holds
the server to it). Patterns name their characters one by one: ECMA-262, Python and Rust differ
on what `\\s` means, and only Python's own str.isspace() is the rule.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from chatd.core.chats import CHAT_NAME_MAX
from chatd.core.errors import InvalidInput
from chatd.core.messages import PAGE_MAX
from chatd.core.users import INT64_MAX, USERNAME_MAX, check_characters

MAX_ID = INT64_MAX
_ID_DIGITS = len(str(MAX_ID))
_DIGITS = re.compile(f"[0-9]{{1,{_ID_DIGITS}}}")


def _id(value: Any) -> int:
    # Ids are integers; the original Avito examples quote them, so "17" is accepted too.
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer id")
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"must be an id between 1 and {MAX_ID}")
    return value


def _numerals_up_to(limit: int) -> str:
    """A regex for the numerals of `limit`'s length, without a leading 0, up to `limit`."""
    digits = str(limit)
    branches = []
    for at, digit in enumerate(digits):
        low = 1 if at == 0 else 0
        if int(digit) > low:
            rest = len(digits) - at - 1
            branches.append(
                f"{digits[:at]}[{low}-{int(digit) - 1}]" + f"[0-9]{{{rest}}}" * (rest > 0)
            )
    return "|".join([*branches, digits])


_ID_RANGE = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# What _id takes as a string: 1 to 19 digits (leading zeros allowed) worth 1 to MAX_ID.
_ID_STRING = {
    "type": "string",
    "maxLength": _ID_DIGITS,
    "pattern": f"^(?:0*[1-9][0-9]{{0,{_ID_DIGITS - 2}}}|{_numerals_up_to(MAX_ID)})$",
}
_INTEGERS = "A JSON integer: a number with a fraction or an exponent (`7.0`, `7e0`) is refused."

Id = Annotated[
    int,
    # Before the validator: the bounds are the schema's (minimum, maximum); _id enforces them.
    Field(ge=1, le=MAX_ID, description="An integer id.", examples=[1]),
    BeforeValidator(_id),
]
"""An id in a path or a query."""

BodyId = Annotated[
    int,
    BeforeValidator(_id),
    WithJsonSchema(
        {
            "anyOf": [_ID_RANGE, _ID_STRING],
            "description": f"An integer id, or a string of its digits. {_INTEGERS}",
            "examples": [1],
        }
    ),
]
"""An id in a JSON body: the original Avito examples quote ids, so a string of digits is one."""


def char_class(characters: str) -> str:
    """The body of a regex character class naming exactly these characters, as escapes."""
    codes = sorted(set(map(ord, characters)))
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


# Whitespace lies in the Basic Multilingual Plane, control characters (a set Unicode promises
# never to change) in Latin-1; tests/api/test_openapi.py checks both over every code point.
_BMP = "".join(map(chr, range(0x10000)))
SPACE = char_class("".join(c for c in _BMP if c.isspace()))  # what str.strip() removes
CONTROL = char_class("".join(c for c in _BMP[:0x100] if unicodedata.category(c) == "Cc"))
NUL = "\\u0000"
STORABLE = f"^[^{NUL}]*$"  # check_characters; no pattern can name lone surrogates
NOT_BLANK = f"[^{SPACE}]"  # something str.strip() leaves


def name_pattern(max_length: int) -> str:
    """What core.users.check_name accepts: 1 to `max_length` characters once trimmed, none of
    them a control character."""
    edge = f"[^{SPACE}{CONTROL}]"
    inner = f"[^{CONTROL}]{{0,{max_length - 2}}}"
    return f"^[{SPACE}]*{edge}(?:{inner}{edge})?[{SPACE}]*$"


def patterns(*regexes: str) -> dict[str, Any]:
    """JSON Schema keywords: a string matching every one of these patterns."""
    if len(regexes) == 1:
        return {"pattern": regexes[0]}
    return {"allOf": [{"pattern": regex} for regex in regexes]}


# The longest message text is a setting (CHATD_MAX_TEXT_LENGTH): settle() writes it as
# maxLength where this key names the setting.
MAX_LENGTH_SETTING = "x-max-length-setting"
# An operation's body schema, for components/schemas (openapi_body): settle() moves it there.
BODY_COMPONENT = "x-body-component"


def settle(document: dict[str, Any], settings: object) -> None:
    """Completes an OpenAPI document in place: body schemas in components, lengths that are
    settings, and integer bounds as integers (FastAPI's OpenAPI model makes them floats, and
    2**63-1 rounds up to 2**63)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                schemas.update(operation.pop(BODY_COMPONENT, {}))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    _settle(document, settings)


def _settle(node: Any, settings: object) -> None:
    if isinstance(node, dict):
        if (name := node.pop(MAX_LENGTH_SETTING, None)) is not None:
            node["maxLength"] = getattr(settings, name)
        for bound in ("minimum", "maximum"):
            if node.get("type") == "integer" and isinstance(node.get(bound), float):
                # No integer chatd takes is beyond INT64_MAX: ids and seqs are BIGINT.
                node[bound] = min(int(node[bound]), INT64_MAX)
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            _settle(child, settings)


Username = Annotated[
    StrictStr,
    Field(
        description=f"1 to {USERNAME_MAX} characters once trimmed, no control characters.",
        json_schema_extra=patterns(name_pattern(USERNAME_MAX)),
    ),
]
ChatName = Annotated[
    StrictStr,
    Field(
        description=f"1 to {CHAT_NAME_MAX} characters once trimmed, no control characters.",
        json_schema_extra=patterns(name_pattern(CHAT_NAME_MAX)),
    ),
]
Text = Annotated[
    StrictStr,
    Field(
        description="Not blank, kept exactly as sent; at most CHATD_MAX_TEXT_LENGTH characters.",
        json_schema_extra={**patterns(STORABLE, NOT_BLANK), MAX_LENGTH_SETTING: "max_text_length"},
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
    username: Username = Field(examples=["user_1"])


class ChatAdd(LenientModel):
    name: ChatName = Field(examples=["chat_1"])
    users: list[BodyId] = Field(examples=[[1, 2]], json_schema_extra={"minItems": 1})


class MessageAdd(LenientModel):
    chat: BodyId
    author: BodyId
    text: Text = Field(examples=["hi"])
    reply_to: BodyId | None = Field(
        default=None, description="The id of a message of the same chat that this one answers"
    )


class ChatsGet(LenientModel):
    user: BodyId


class MessagesGet(LenientModel):
    chat: BodyId
    limit: StrictInt | None = Field(default=None, ge=1, le=PAGE_MAX, description=_INTEGERS)
    before: BodyId | None = None
    after: BodyId | None = None


class IdOut(Model):
    id: int


class AvitoChatOut(Model):
    id: int
    name: str | None = Field(description="null for a private chat (made through API v1)")
    users: list[int]
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    last_message_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])


class AvitoMessageOut(Model):
    id: int
    chat: int
    author: int
    text: str
    created_at: str = Field(examples=["2026-11-25T12:00:00.000000Z"])
    reply_to: int | None = Field(
        default=None, description="The message this one answers: present on replies only"
    )


class ErrorDetail(Model):
    code: str = Field(examples=["user_not_found"])
    message: str = Field(examples=["user not found: 7"])


class ErrorOut(Model):
    error: ErrorDetail


def openapi_body(model: type[Model], *, component: bool = False) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads its body with api/bodies.py: the schema
    inline (Avito), or, with `component`, as a reference to components/schemas (v1, where
    FastAPI used to document bodies so; settle() puts the schema there)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if component:
        name = model.__name__
        content = {"schema": {"$ref": f"#/components/schemas/{name}"}}
        body = {"content": {"application/json": content}, "required": True}
        return {"requestBody": body, BODY_COMPONENT: {name: schema}}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
