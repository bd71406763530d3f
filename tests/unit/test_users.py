"""core.users: how names are checked, and the key under which usernames clash."""

from __future__ import annotations

import pytest

from chatd.core.errors import InvalidInput
from chatd.core.users import USERNAME_MAX, check_name, username_key


def test_name_is_returned_trimmed() -> None:
    assert check_name("  alice\t\n", field="username", max_length=64) == "alice"


def test_inner_spaces_are_kept() -> None:
    assert check_name(" a  b ", field="name", max_length=64) == "a  b"


@pytest.mark.parametrize("value", ["", " ", "\t\r\n", "\u3000\u2003"])
def test_empty_or_blank_name_is_invalid(value: str) -> None:
    with pytest.raises(InvalidInput, match="username") as raised:
        check_name(value, field="username", max_length=64)
    assert raised.value.code == "invalid_username"


def test_name_at_the_maximum_length_is_valid() -> None:
    assert check_name("x" * 10, field="name", max_length=10) == "x" * 10


def test_name_over_the_maximum_length_is_invalid_and_says_both_lengths() -> None:
    with pytest.raises(InvalidInput, match="name") as raised:
        check_name("x" * 11, field="name", max_length=10)
    assert raised.value.code == "invalid_name"
    assert "10" in raised.value.message
    assert "11" in raised.value.message


def test_length_is_measured_after_trimming() -> None:
    assert check_name("   " + "x" * 10 + "   ", field="name", max_length=10) == "x" * 10


def test_length_counts_characters_not_bytes() -> None:
    assert check_name("🙂" * 10, field="name", max_length=10) == "🙂" * 10


@pytest.mark.parametrize("value", ["a\x00b", "a\nb", "a\tb", "a\x1bb", "a\x7fb", "a\x85b"])
def test_name_with_a_control_character_inside_is_invalid(value: str) -> None:
    with pytest.raises(InvalidInput, match="control") as raised:
        check_name(value, field="username", max_length=64)
    assert raised.value.code == "invalid_username"


@pytest.mark.parametrize("value", ["Алиса", "山田", "o'brien", "a-b_c.d", "🙂", "e\u0301"])
def test_unicode_and_punctuation_are_valid(value: str) -> None:
    assert check_name(value, field="username", max_length=64) == value


def test_usernames_may_be_64_characters() -> None:
    assert USERNAME_MAX == 64


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("Ölaf", "ölaf"),
        ("Straße", "STRASSE"),
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
        ("\uff41\uff4c\uff49\uff43\uff45", "alice"),  # full-width letters
        ("ﬁx", "fix"),  # a ligature
        ("e\u0301", "\u00e9"),  # decomposed and composed é
    ],
)
def test_usernames_that_differ_only_in_case_or_form_share_a_key(first: str, second: str) -> None:
    assert username_key(first) == username_key(second)


@pytest.mark.parametrize(("first", "second"), [("alice", "alice2"), ("bob", "b0b"), ("a b", "ab")])
def test_different_usernames_have_different_keys(first: str, second: str) -> None:
    assert username_key(first) != username_key(second)


def test_key_is_stable_when_computed_again() -> None:
    key = username_key("Straße")
    assert username_key(key) == key
