"""core.messages: the pure rules for message text and history pages."""

from __future__ import annotations

import pytest

from chatd.core.errors import InvalidInput
from chatd.core.messages import PAGE_MAX, check_page, check_text
from chatd.core.models import Page


@pytest.mark.parametrize(
    "text",
    ["hi", "  padded  ", "\nline\n", "'; DROP TABLE messages; --", "🙂", "a\x01b"],
)
def test_text_is_returned_unchanged(text: str) -> None:
    assert check_text(text, 100) == text


def test_text_with_a_nul_character_is_invalid_on_every_database() -> None:
    # PostgreSQL cannot store NUL in text, so no database accepts it.
    with pytest.raises(InvalidInput, match="NUL") as raised:
        check_text("a\x00b", 100)
    assert raised.value.code == "invalid_text"


@pytest.mark.parametrize("text", ["", " ", "\n\t\r ", "\u3000"])
def test_empty_or_blank_text_is_invalid(text: str) -> None:
    with pytest.raises(InvalidInput, match="text") as raised:
        check_text(text, 100)
    assert raised.value.code == "invalid_text"


def test_text_at_the_maximum_length_is_valid() -> None:
    assert check_text("x" * 100, 100) == "x" * 100


def test_text_over_the_maximum_length_is_invalid_and_says_both_lengths() -> None:
    with pytest.raises(InvalidInput, match="text") as raised:
        check_text("x" * 101, 100)
    assert raised.value.code == "invalid_text"
    assert "100" in raised.value.message
    assert "101" in raised.value.message


def test_text_length_counts_characters_not_bytes() -> None:
    assert check_text("🙂" * 100, 100) == "🙂" * 100


def test_text_length_counts_surrounding_spaces() -> None:
    with pytest.raises(InvalidInput):
        check_text(" " + "x" * 100, 100)


@pytest.mark.parametrize("page", [Page(), Page(limit=1), Page(limit=PAGE_MAX, before=5)])
def test_page_with_limit_in_range_or_none_is_valid(page: Page) -> None:
    assert check_page(page) == page


@pytest.mark.parametrize("limit", [0, -1, PAGE_MAX + 1])
def test_page_limit_outside_1_to_1000_is_invalid(limit: int) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        check_page(Page(limit=limit))


def test_pages_hold_at_most_1000_messages() -> None:
    assert PAGE_MAX == 1000
