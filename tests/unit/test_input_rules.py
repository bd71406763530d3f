"""The one rule for incoming strings (core.users.check_characters) and the 64-bit bound on seqs,
as every core check applies them, and as the API's shared base model and cursors do."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from chatd.api.errors import BadRequest
from chatd.api.schemas import LenientModel, MessageAdd, Model, UserAdd
from chatd.api.v1 import cursors
from chatd.api.v1.schemas import Login, NewMessage, ReadMarker, Registration
from chatd.core import chats
from chatd.core.accounts import check_email, check_password
from chatd.core.errors import InvalidInput
from chatd.core.messages import SEQ_MAX, check_seq_page, check_text
from chatd.core.models import Caller, SeqPage
from chatd.core.users import INT64_MAX, check_characters, check_name

UNSTORABLE = {
    "nul": "a\x00b",
    "only_nul": "\x00",
    "lone_high_surrogate": "a\ud800b",
    "lone_low_surrogate": "\udfff",
    "split_pair": "\ud83d\ude42",  # the two halves of 🙂 as separate code points
}
STORABLE = ["", "plain", "\x01\x7f\n\t", "\ud7ff\ue000\uffff", "🙂", "Алиса", "\U0010ffff"]


@pytest.mark.parametrize("value", STORABLE)
def test_strings_without_nul_or_surrogates_pass_unchanged(value: str) -> None:
    assert check_characters(value, field="text") == value


@pytest.mark.parametrize("value", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_nul_and_surrogates_are_refused_with_the_fields_code(value: str) -> None:
    with pytest.raises(InvalidInput, match=r"^email must not contain") as raised:
        check_characters(value, field="email")
    assert raised.value.code == "invalid_email"
    # The message itself must be writable as JSON: no surrogate of the input in it.
    raised.value.message.encode()


CORE_CHECKS: dict[str, tuple[Callable[[str], Any], str]] = {
    "username": (lambda v: check_name(v, field="username", max_length=64), "invalid_username"),
    "chat name": (lambda v: check_name(v, field="name", max_length=128), "invalid_name"),
    "text": (lambda v: check_text(v, 10_000), "invalid_text"),
    "email": (lambda v: check_email(f"{v}@example.org"), "invalid_email"),
    "password": (lambda v: check_password(f"{v}-long-enough"), "invalid_password"),
}


@pytest.mark.parametrize("check", CORE_CHECKS.values(), ids=CORE_CHECKS.keys())
def test_every_core_string_check_applies_the_rule(
    subtests: pytest.Subtests, check: tuple[Callable[[str], Any], str]
) -> None:
    apply, code = check
    for label, value in UNSTORABLE.items():
        with subtests.test(label), pytest.raises(InvalidInput) as raised:
            apply(f"ok{value}ok")
        assert raised.value.code == code


def test_seqs_are_bounded_by_the_largest_64_bit_integer() -> None:
    assert SEQ_MAX == INT64_MAX == 2**63 - 1
    for page in (SeqPage(20, before_seq=SEQ_MAX), SeqPage(20, after_seq=SEQ_MAX)):
        assert check_seq_page(page) == page
    for page in (SeqPage(20, before_seq=SEQ_MAX + 1), SeqPage(20, after_seq=10**30)):
        with pytest.raises(InvalidInput, match=str(SEQ_MAX)) as raised:
            check_seq_page(page)
        assert raised.value.code == "invalid_cursor"


@pytest.mark.parametrize("seq", [-1, INT64_MAX + 1, 10**30])
async def test_a_read_marker_outside_0_to_the_largest_seq_is_refused_before_any_lookup(
    seq: int,
) -> None:
    # No store is needed: the check comes first.
    with pytest.raises(InvalidInput) as raised:
        await chats.mark_read(None, Caller(1, "user", 1), 1, seq)  # type: ignore[arg-type]
    assert raised.value.code == "invalid_seq"


# The API's one base model


def test_every_request_shape_derives_from_the_one_base() -> None:
    for shape in (UserAdd, MessageAdd, Registration, Login, NewMessage, ReadMarker):
        assert issubclass(shape, Model)
    assert issubclass(UserAdd, LenientModel)
    assert not issubclass(Registration, LenientModel)


@pytest.mark.parametrize(
    ("shape", "body", "code"),
    [
        (UserAdd, {"username": "a\x00"}, "invalid_username"),
        (MessageAdd, {"chat": 1, "author": 1, "text": "\ud800"}, "invalid_text"),
        (Registration, {"username": "a", "password": "p" * 8, "email": "\x00"}, "invalid_email"),
        (Login, {"username": "a", "password": "\udc00"}, "invalid_password"),
        (NewMessage, {"text": "a\x00"}, "invalid_text"),
    ],
)
def test_the_base_model_holds_every_string_field_to_the_rule(
    shape: type[Model], body: dict[str, Any], code: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        shape.model_validate(body)
    (error,) = raised.value.errors()
    assert error["ctx"] == {"code": code}


def test_extras_are_ignored_only_by_lenient_shapes() -> None:
    assert UserAdd.model_validate({"username": "a", "extra": "\x00"}).username == "a"
    with pytest.raises(ValidationError):
        NewMessage.model_validate({"text": "a", "extra": 1})


def test_read_marker_seq_is_bounded() -> None:
    assert ReadMarker.model_validate({"seq": SEQ_MAX}).seq == SEQ_MAX
    with pytest.raises(ValidationError):
        ReadMarker.model_validate({"seq": SEQ_MAX + 1})


# Chat list cursors


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    ["0:1", f"0:{2**63 - 1}", "-62135596800000000:1", "253402300799999999:7"],
)
def test_cursors_within_range_decode(raw: str) -> None:
    assert cursors.decode(_cursor(raw)).chat_id == int(raw.split(":")[1])


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(f"0:{2**63}"),
        _cursor(f"0:{2**64}"),
        _cursor("0:0"),
        _cursor("0:-1"),
        _cursor(f"{10**30}:1"),
        _cursor("253402300800000000:1"),
        _cursor("-62135596800000001:1"),
        _cursor("1: 1"),
        _cursor("1:1_0"),
        _cursor("1:\u0661"),
        _cursor("1:1:1"),
        "MTox\x00",  # "1:1" with a NUL that lenient base64 would skip
        "MTox!",
        "",
    ],
)
def test_cursors_this_server_never_writes_are_refused(cursor: str) -> None:
    with pytest.raises(BadRequest) as raised:
        cursors.decode(cursor)
    assert raised.value.code == "invalid_cursor"
