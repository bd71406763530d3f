"""API v1 against malformed input, field by field: the counterpart of test_avito_errors.py.

Every operation, every field it reads (body, path, query, the Authorization header), and every
kind of bad value: wrong types, null, missing, empty and non-JSON bodies, arrays, unknown fields,
NUL, lone surrogates, integers past 64 bits, negatives, zero, huge strings, unicode that looks
right but is not. Each gets a 4xx with the JSON error body and the expected code, never a 5xx
(the test client re-raises a server error), and the database is left as it was.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

import pytest

from tests.api.helpers import assert_error
from tests.api.v1_helpers import PASSWORD, Api, User, create_chat, send, sign_up_many

MAX = 2**63 - 1
HUGE = 500_000  # characters: far past every length rule, still under the 1 MiB body limit
MISSING = object()  # a field left out of the body
OWNER = object()  # in a list of user ids: the caller, who owns the chat and must stay in it

TABLES = [
    "users",
    "auth_tokens",
    "chats",
    "chat_members",
    "messages",
    "idempotency_keys",
    "message_reactions",
    "message_mentions",
]


@dataclass(frozen=True)
class World:
    caller: User  # a moderator who owns `chat`: every valid request below would succeed
    other: User  # a member of `chat`
    chat: int
    message: int


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # as routed, e.g. /api/v1/chats/{chat_id}
    body: dict[str, Any] | None = None  # a valid body; None: the operation reads none
    query: dict[str, Any] = field(default_factory=dict)  # valid values of every query field
    auth: bool = True


def _cursor(micros: int | str, chat: int | str) -> str:
    return base64.urlsafe_b64encode(f"{micros}:{chat}".encode()).decode().rstrip("=")


def operations(w: World) -> dict[str, Op]:
    text = {"text": "hello"}
    return {
        "register": Op(
            "POST",
            "/api/v1/users",
            {"username": "carol", "password": PASSWORD, "email": "carol@example.org"},
            auth=False,
        ),
        "log_in": Op(
            "POST", "/api/v1/auth/tokens", {"username": "bob", "password": PASSWORD}, auth=False
        ),
        "log_out": Op("DELETE", "/api/v1/auth/tokens/current"),
        "me": Op("GET", "/api/v1/me"),
        "rules": Op("GET", "/api/v1/rules", auth=False),
        "block": Op("PUT", "/api/v1/users/{user_id}/block"),
        "unblock": Op("DELETE", "/api/v1/users/{user_id}/block"),
        "list_chats": Op(
            "GET", "/api/v1/chats", query={"limit": 5, "cursor": _cursor(1, 1), "scope": "all"}
        ),
        "create_chat": Op("POST", "/api/v1/chats", {"name": "new", "users": [w.other.id]}),
        "show_chat": Op("GET", "/api/v1/chats/{chat_id}", query={"limit": 5}),
        "change_chat": Op(
            "PATCH",
            "/api/v1/chats/{chat_id}",
            {"name": "renamed", "users": [w.caller.id, w.other.id]},
        ),
        "leave_chat": Op("POST", "/api/v1/chats/{chat_id}/leave"),
        "delete_chat": Op("DELETE", "/api/v1/chats/{chat_id}"),
        "mark_read": Op("POST", "/api/v1/chats/{chat_id}/read", {"seq": 1}),
        "history": Op(
            "GET",
            "/api/v1/chats/{chat_id}/messages",
            query={"limit": 5, "before_seq": 2, "after_seq": 0},
        ),
        "send": Op("POST", "/api/v1/chats/{chat_id}/messages", text),
        "send_direct": Op("POST", "/api/v1/direct/{user_id}/messages", text),
        "edit_message": Op("PATCH", "/api/v1/messages/{message_id}", text),
        "delete_message": Op("DELETE", "/api/v1/messages/{message_id}"),
        "react": Op("PUT", "/api/v1/messages/{message_id}/reactions/{emoji}"),
        "unreact": Op("DELETE", "/api/v1/messages/{message_id}/reactions/{emoji}"),
        "find_user": Op("GET", "/api/v1/users", query={"username": "bob"}),
        "find_users": Op("GET", "/api/v1/users", query={"prefix": "b", "limit": 5}),
        "search": Op(
            "GET",
            "/api/v1/search",
            query={
                "q": "hi",
                "chat": w.chat,
                "author": w.caller.id,
                "limit": 5,
                "cursor": _search_cursor(MAX),
                "scope": "all",
            },
        ),
    }


def _search_cursor(message: int | str) -> str:
    return base64.urlsafe_b64encode(f"m:{message}".encode()).decode().rstrip("=")


# Field rules: (label, value, status, code).

Rule = tuple[str, Any, int, str | None]

WRONG_STRING_TYPES: list[Rule] = [
    ("number", 1, 400, "invalid_field"),
    ("float", 1.5, 400, "invalid_field"),
    ("boolean", True, 400, "invalid_field"),
    ("array", ["a"], 400, "invalid_field"),
    ("object", {"a": "b"}, 400, "invalid_field"),
]


def _string(
    name: str,
    valid: str,
    bad: list[tuple[str, Any]],
    *,
    required: bool = True,
    nullable: bool = False,
) -> list[Rule]:
    """A string field: wrong types, null, missing, a NUL or a surrogate in an otherwise valid
    value (refused with the field's own code, as the core would), then the field's own bad
    values, refused with that code too."""
    code = f"invalid_{name}"
    rules = list(WRONG_STRING_TYPES)
    if not nullable:
        rules.append(("null", None, 400, "invalid_field"))
    if required:
        rules.append(("missing", MISSING, 400, "missing_field"))
    rules += [
        ("nul", f"{valid[:1]}\x00{valid[1:]}", 400, code),
        ("only_nul", "\x00", 400, code),
        ("lone_surrogate", f"{valid[:1]}\ud800{valid[1:]}", 400, code),
        ("only_lone_surrogates", "\ud800" * 10, 400, code),
        ("trailing_low_surrogate", f"{valid}\udfff", 400, code),
        ("huge", "x" * HUGE, 400, code),
    ]
    return rules + [(label, value, 400, code) for label, value in bad]


BLANKS = [("empty", ""), ("blank", "  \t"), ("unicode_blank", "\u3000\u2003")]


def _login(name: str, valid: str) -> list[Rule]:
    """Logging in: what no account could hold is a 400; any other string just matches nobody."""
    rules = [r for r in _string(name, valid, []) if r[0] != "huge"]
    return rules + [
        (label, value, 401, "invalid_credentials")
        for label, value in [("empty", ""), ("huge", "x" * HUGE), ("unicode", "Алиса 🙂")]
    ]


def _ids(*, nullable: bool) -> list[Rule]:
    """A list of user ids."""
    rules: list[Rule] = [
        (f"type_{label}", value, 400, "invalid_field")
        for label, value in [("string", "1"), ("number", 1), ("object", {"a": 1}), ("bool", True)]
    ]
    if not nullable:
        rules.append(("null", None, 400, "invalid_field"))
    rules += [
        (f"item_{label}", [value], 400, "invalid_field")
        for label, value in [
            ("zero", 0),
            ("negative", -1),
            ("2**63", 2**63),
            ("10**30", 10**30),
            ("word", "abc"),
            ("empty", ""),
            ("unicode_digits", "\u0661\u0667"),
            ("bool", True),
            ("float", 1.5),
            ("nan", float("nan")),
            ("null", None),
            ("nested", [1]),
            ("nul", "1\x00"),
        ]
    ]
    unknown = list(range(10**9, 10**9 + 20_000))
    return [
        *rules,
        ("unknown", [OWNER, 4242], 404, "user_not_found"),
        ("many_unknown", [OWNER, *unknown], 404, "user_not_found"),
    ]


SEQS: list[Rule] = [
    ("missing", MISSING, 400, "missing_field"),
    ("null", None, 400, "invalid_field"),
    ("string", "1", 400, "invalid_field"),
    ("float", 1.5, 400, "invalid_field"),
    ("nan", float("nan"), 400, "invalid_field"),
    ("infinity", float("inf"), 400, "invalid_field"),
    ("boolean", True, 400, "invalid_field"),
    ("array", [1], 400, "invalid_field"),
    ("object", {"seq": 1}, 400, "invalid_field"),
    ("negative", -1, 400, "invalid_field"),
    ("2**63", 2**63, 400, "invalid_field"),
    ("10**30", 10**30, 400, "invalid_field"),
    ("-2**63-1", -(2**63) - 1, 400, "invalid_field"),
    ("unicode_digits", "\u0661", 400, "invalid_field"),
]

TEXT = _string("text", "hello", [*BLANKS, ("over_10000", "x" * 10_001)])
REPLY_TO: list[Rule] = [
    (label, value, 400, "invalid_field")
    for label, value in [
        ("word", "one"),
        ("float", 1.5),
        ("boolean", True),
        ("array", [1]),
        ("object", {"id": 1}),
        ("zero", 0),
        ("negative", -1),
        ("2**63", 2**63),
        ("10**30", 10**30),
    ]
] + [("unknown", MAX, 400, "invalid_reply")]
# One emoji grapheme, percent-encoded in the path (api/emoji.py).
EMOJIS = [
    ("word", "ok"),
    ("two", "👍👍"),
    ("emoji_and_text", "👍a"),
    ("lone_skin_tone", "🏻"),
    ("lone_regional_indicator", "🇫"),
    ("digit", "1"),
    ("hash", "#"),
    ("space_before", " 👍"),
    ("zwj_alone", "\u200d"),
    ("variation_selector", "\ufe0f"),
    ("nul", "\x00"),
    ("surrogate_bytes", "%ED%A0%80"),
    ("huge", "👍" * 1_000),
]
NAME = [("empty", ""), ("blank", "  "), ("unicode_blank", "\u3000"), ("over_128", "x" * 129)]

BODY_FIELDS: dict[str, dict[str, list[Rule]]] = {
    "register": {
        "username": _string(
            "username",
            "carol",
            [*BLANKS, ("over_64", "x" * 65), ("newline", "a\nb"), ("del", "a\x7f")],
        ),
        "password": _string(
            "password",
            PASSWORD,
            [("empty", ""), ("short", "1234567"), ("unicode_short", "пароль!")],
        ),
        "email": _string(
            "email",
            "carol@example.org",
            [
                ("empty", ""),
                ("no_at", "carol"),
                ("no_dot", "ä@b"),
                ("over_254", "a@b." + "c" * 251),
            ],
            required=False,
            nullable=True,
        ),
    },
    "log_in": {"username": _login("username", "bob"), "password": _login("password", PASSWORD)},
    "create_chat": {
        "name": _string("name", "new", [*NAME, ("newline", "a\nb")]),
        "users": _ids(nullable=False),
    },
    "change_chat": {
        "name": _string("name", "renamed", NAME, required=False, nullable=True),
        "users": _ids(nullable=True),
    },
    "mark_read": {"seq": SEQS},
    "send": {"text": TEXT, "reply_to": REPLY_TO},
    "send_direct": {"text": TEXT, "reply_to": REPLY_TO},
    "edit_message": {"text": TEXT},
}

# Whole bodies, for every operation that reads one. `{body}` stands for the valid body.
BODIES: list[tuple[str, bytes, set[str] | None]] = [
    ("empty", b"", {"empty_body"}),
    ("blank", b" \n\t", {"empty_body"}),
    ("open_brace", b"{", {"malformed_json"}),
    ("word", b"not json", {"malformed_json"}),
    ("single_quotes", b"{'text': 'hi'}", {"malformed_json"}),
    ("trailing_comma", b"{body},", {"malformed_json"}),
    ("trailing_text", b"{body} trailing", {"malformed_json"}),
    ("surrogate_key", b'{body, "\\ud800": 1}', {"malformed_json"}),
    ("array", b"[]", {"invalid_body"}),
    ("array_of_the_body", b"[{body}]", {"invalid_body"}),
    ("string", b'"hello"', {"invalid_body"}),
    ("number", b"17", {"invalid_body"}),
    ("boolean", b"true", {"invalid_body"}),
    # FastAPI hands a null body over as no body at all.
    ("null", b"null", {"invalid_body", "empty_body"}),
    ("unknown_field", b'{body, "nope": 1}', {"invalid_field"}),
    ("unknown_nested", b'{body, "nested": {"a": [1]}}', {"invalid_field"}),
    ("unknown_null", b'{body, "id": null}', {"invalid_field"}),
    # FastAPI's own body parser answers these with a 400 of its own (code http_error).
    ("bad_utf8", b'{"text": "\xff\xfe"}', None),
    ("too_deep", b"[" * 5000 + b"]" * 5000, None),
    ("5000_digits", b'{"seq": 1' + b"0" * 5000 + b"}", None),
]

PATH_IDS = [
    ("zero", "0"),
    ("negative", "-1"),
    ("2**63", str(2**63)),
    ("10**30", str(10**30)),
    ("twenty_digits", "0" * 19 + "1"),
    ("word", "abc"),
    ("float", "1.5"),
    ("exponent", "1e3"),
    ("hex", "0x1f"),
    ("plus", "+1"),
    ("space", " 1"),
    ("unicode_digits", "\u0661\u0667"),
    ("fullwidth_digits", "\uff11\uff17"),
    ("nul", "\x00"),
    ("surrogate_bytes", "%ED%A0%80"),  # sent as is: a UTF-8 encoded surrogate
    ("huge", "9" * 10_000),
]
NUMBERS = [
    ("2**63", str(2**63)),
    ("10**30", str(10**30)),
    ("word", "abc"),
    ("empty", ""),
    ("float", "1.5"),
    ("boolean", "true"),
    ("unicode_digits", "\u0661\u0660"),
    ("fullwidth_digits", "\uff11\uff10"),
    ("nul", "\x00"),
    ("huge", "9" * 10_000),
]
LIMITS = [*NUMBERS, ("zero", "0"), ("negative", "-1"), ("over_100", "101")]
SEQ_QUERY = [*NUMBERS, ("negative", "-1"), ("-2**63-1", str(-(2**63) - 1))]
QUERY_IDS = [*NUMBERS, ("zero", "0"), ("negative", "-1")]
QUERY_FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "limit": [(label, value, "invalid_field") for label, value in LIMITS],
    "chat": [(label, value, "invalid_field") for label, value in QUERY_IDS],
    "author": [(label, value, "invalid_field") for label, value in QUERY_IDS],
    "q": [
        (label, value, "invalid_query")
        for label, value in [
            ("empty", ""),
            ("blank", "  \t"),
            ("no_word", "?! -"),
            ("nul", "\x00"),
            ("underscores", "__"),
            ("over_256", "x" * 257),
            ("eleven_words", " ".join("w" * 11)),
        ]
    ],
    "before_seq": [(label, value, "invalid_field") for label, value in SEQ_QUERY],
    "after_seq": [(label, value, "invalid_field") for label, value in SEQ_QUERY],
    "scope": [
        (label, value, "invalid_field")
        for label, value in [
            ("empty", ""),
            ("other", "none"),
            ("upper", "ALL"),
            ("both", "mine,all"),
            ("unicode", "все"),
            ("nul", "all\x00"),
        ]
    ],
    "username": [
        ("empty", "", "invalid_username"),
        ("blank", "  ", "invalid_username"),
        ("nul", "b\x00b", "invalid_username"),
        ("only_nul", "\x00", "invalid_username"),
    ],
    "prefix": [
        ("empty", "", "invalid_prefix"),
        ("blank", "  ", "invalid_prefix"),
        ("nul", "b\x00", "invalid_prefix"),
        ("only_nul", "\x00", "invalid_prefix"),
    ],
    "cursor": [
        (label, value, "invalid_cursor")
        for label, value in [
            ("empty", ""),
            ("not_base64", "!!"),
            ("not_a_keyset", _cursor("x", "y")),
            ("chat_2**63", _cursor(1, 2**63)),
            ("chat_2**64", _cursor(1, 2**64)),
            ("chat_10**30", _cursor(1, 10**30)),
            ("chat_zero", _cursor(1, 0)),
            ("chat_negative", _cursor(1, -1)),
            ("time_10**30", _cursor(10**30, 1)),
            ("time_after_9999", _cursor(253402300800 * 10**6, 1)),
            ("time_before_year_1", _cursor(-62135596800 * 10**6 - 1, 1)),
            ("three_parts", _cursor(1, "1:1")),
            ("spaces", _cursor(" 1", " 1")),
            ("underscores", _cursor("1_0", "1_0")),
            ("unicode_digits", _cursor("\u0661", "\u0661")),
            ("not_utf8", base64.urlsafe_b64encode(b"\xff:\xfe").decode()),
            ("nul", "MTox\x00"),
            ("unicode", "курсор"),
            ("huge", "A" * 60_000),
            # A search cursor (api/v1/search.py): "m:" and a message id.
            ("search_id_zero", _search_cursor(0)),
            ("search_id_2**63", _search_cursor(2**63)),
            ("search_id_word", _search_cursor("x")),
            ("search_id_spaces", _search_cursor(" 1")),
        ]
    ],
}
AUTHORIZATION: list[tuple[str, bytes | None, str]] = [
    ("none", None, "missing_token"),
    ("basic", b"Basic YWxpY2U6cHc=", "missing_token"),
    ("bearer_without_token", b"Bearer", "missing_token"),
    ("bearer_blank", b"Bearer    ", "missing_token"),
    ("unknown_token", b"Bearer nope", "invalid_token"),
    ("latin1_token", b"Bearer \xe9t\xe9", "invalid_token"),
    ("huge_token", b"Bearer " + b"x" * 50_000, "invalid_token"),
]


class Case(NamedTuple):
    where: str  # e.g. "body.text=nul"
    method: str
    path: str
    query: dict[str, str]
    body: bytes | None
    headers: dict[str, Any]
    status: int
    codes: set[str] | None


def _path(op: Op, w: World, **override: str) -> str:
    values: dict[str, object] = {
        "chat_id": w.chat,
        "user_id": w.other.id,
        "message_id": w.message,
        "emoji": quote("👍", safe=""),
    }
    values.update(override)
    path = op.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def _dumps(body: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate goes out as the escape "\ud800", as a client would send it.
    return json.dumps(body, ensure_ascii=True).encode()


def cases(name: str, op: Op, w: World) -> Iterator[Case]:
    """Every bad request for the operation: each differs from its valid request in one place."""
    headers = {"content-type": "application/json"}
    if op.auth:
        headers["authorization"] = f"Bearer {w.caller.token}"
    query = {key: str(value) for key, value in op.query.items()}
    body = None if op.body is None else _dumps(op.body)
    # A 400 unless said otherwise; the status and codes of the valid request itself do not matter.
    valid = Case("", op.method, _path(op, w), query, body, headers, 400, None)
    yield from _body_cases(valid, BODY_FIELDS.get(name, {}), op.body, w)
    for pname in ("chat_id", "user_id", "message_id"):
        if "{" + pname + "}" in op.path:
            for label, value in PATH_IDS:
                segment = value if value.startswith("%") else quote(value, safe="")
                path = _path(op, w, **{pname: segment})
                where = f"path.{pname}={label}"
                yield valid._replace(where=where, path=path, codes={"invalid_field"})
            path = _path(op, w, **{pname: ""})
            where = f"path.{pname}=absent"
            yield valid._replace(where=where, path=path, status=404, codes={"not_found"})
    if "{emoji}" in op.path:
        for label, value in EMOJIS:
            segment = value if value.startswith("%") else quote(value, safe="")
            where = f"path.emoji={label}"
            path = _path(op, w, emoji=segment)
            yield valid._replace(where=where, path=path, codes={"invalid_emoji"})
    for qname in op.query:
        for label, value, code in QUERY_FIELDS[qname]:
            changed = {**query, qname: value}
            yield valid._replace(where=f"query.{qname}={label}", query=changed, codes={code})
    if op.auth:
        for label, header, code in AUTHORIZATION:
            sent: dict[str, Any] = {"content-type": "application/json"}
            if header is not None:
                sent["authorization"] = header
            where = f"header.authorization={label}"
            yield valid._replace(where=where, headers=sent, status=401, codes={code})


def _body_cases(
    valid: Case, fields: dict[str, list[Rule]], body: dict[str, Any] | None, w: World
) -> Iterator[Case]:
    for fname, rules in fields.items():
        assert body is not None
        for label, value, status, code in rules:
            changed = {k: v for k, v in body.items() if k != fname}
            if isinstance(value, list):
                value = [w.caller.id if v is OWNER else v for v in value]
            if value is not MISSING:
                changed[fname] = value
            codes = {code} if code else None
            where = f"body.{fname}={label}"
            yield valid._replace(where=where, body=_dumps(changed), status=status, codes=codes)
    if body is not None:
        inner = _dumps(body)[1:-1]
        for label, raw, codes in BODIES:
            raw = raw.replace(b"{body}", b"{" + inner + b"}")
            raw = raw.replace(b"{body,", b"{" + inner + b",")
            yield valid._replace(where=f"body={label}", body=raw, codes=codes)
        plain = {**valid.headers, "content-type": "text/plain"}
        yield valid._replace(where="body=text_plain", headers=plain, codes={"invalid_body"})


async def _world(api: Api) -> World:
    caller, other = await sign_up_many(api.http, "alice", "bob")
    await api.make_moderator(caller)
    chat = await create_chat(api.http, caller, "general", [other])
    message = await send(api.http, caller, chat["id"], "hi")
    return World(caller, other, chat["id"], message["id"])


async def _snapshot(api: Api) -> dict[str, list[str]]:
    return {
        table: sorted(repr(tuple(row)) for row in await api.rows(f"SELECT * FROM {table}"))
        for table in TABLES
    }


async def test_every_malformed_field_is_a_client_error_that_changes_nothing(
    api: Api, subtests: pytest.Subtests
) -> None:
    # One world and one app for all of it: each new app costs FastAPI ~0.2 s of route set-up.
    world = await _world(api)
    for name, op in operations(world).items():
        before = await _snapshot(api)
        for c in cases(name, op, world):
            with subtests.test(f"{name}: {c.where}"):
                response = await api.http.request(
                    c.method, c.path, params=c.query, content=c.body, headers=c.headers
                )
                error = assert_error(response, c.status)
                if c.codes is not None:
                    assert error["code"] in c.codes, error
        with subtests.test(f"{name}: nothing changed"):
            assert await _snapshot(api) == before


async def test_the_matrix_covers_every_v1_operation(api: Api) -> None:
    document = (await api.http.get("/openapi.json")).json()
    routed = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/")
        for method in methods
    }
    world = World(User(1, "", "", ""), User(2, "", "", ""), 1, 1)
    covered = {(op.method, op.path) for op in operations(world).values()}
    assert routed == covered
    for name, op in operations(world).items():
        for qname in op.query:
            assert qname in QUERY_FIELDS, (name, qname)


async def test_each_operations_valid_request_succeeds(api: Api, subtests: pytest.Subtests) -> None:
    # The matrix changes one field of these: were they refused already, it would prove nothing.
    world = await _world(api)
    ops = operations(world)
    order = [
        "me",
        "rules",
        "list_chats",
        "show_chat",
        "history",
        "search",
        "mark_read",
        "send",
        "send_direct",
        "edit_message",
        "react",
        "unreact",
        "change_chat",
        "create_chat",
        "register",
        "log_in",
        "block",
        "unblock",
        "delete_message",
        "leave_chat",
        "delete_chat",
        "find_user",
        "find_users",
        "log_out",
    ]
    assert sorted(order) == sorted(ops)
    for name in order:
        op = ops[name]
        with subtests.test(name):
            response = await api.http.request(
                op.method,
                _path(op, world),
                params=op.query,
                json=op.body,
                headers=world.caller.auth if op.auth else {},
            )
            assert response.status_code in (200, 201, 204), response.text


async def test_the_largest_64_bit_values_are_valid(api: Api) -> None:
    world = await _world(api)
    auth = world.caller.auth
    chat = f"/api/v1/chats/{world.chat}"
    for query in ({"before_seq": MAX}, {"after_seq": MAX}, {"before_seq": MAX, "after_seq": MAX}):
        response = await api.http.get(f"{chat}/messages", params=query, headers=auth)
        assert response.status_code == 200, response.text
    response = await api.http.post(f"{chat}/read", json={"seq": MAX}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["last_read_seq"] == 1
    for cursor in (
        _cursor(0, MAX),
        _cursor(253402300800 * 10**6 - 1, MAX),  # the last microsecond of 9999
        _cursor(-62135596800 * 10**6, 1),  # the first of year 1
    ):
        response = await api.http.get("/api/v1/chats", params={"cursor": cursor}, headers=auth)
        assert response.status_code == 200, response.text
    response = await api.http.get(f"/api/v1/chats/{MAX}", headers=auth)
    assert assert_error(response, 404, str(MAX))["code"] == "chat_not_found"
