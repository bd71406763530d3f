"""The words' rule of search (core/search.py): what a text holds and where the found words
stand, in code points. The compiled forms (matcher, highlights) are compared with the rule
written word by word, on texts of every kind of character."""

from __future__ import annotations

import random

import pytest

from chatd.core.search import (
    _WORD,
    Highlight,
    _highlights_word_by_word,
    highlights,
    matcher,
    words_in,
)

# Letters and digits of several scripts, case pairs, separators, the underscore, an emoji, and
# letters whose lowercase is longer (İ) or not a plain pair (ß, Σ, ǅ).
ALPHABET = "abcAB xyz 019 прПР ΣσςΩ ßẞ İ ǅ _-.,!? 🎉 é\u0301 日本"
WORDS = ["a", "ab", "b", "пр", "р", "σ", "ß", "0", "19", "日", "é", "z", "xy"]  # noqa: RUF001


def _holds_word_by_word(text: str, words: tuple[str, ...]) -> bool:
    *whole, prefix = words
    found = set(_WORD.findall(text.lower()))
    return all(word in found for word in whole) and any(w.startswith(prefix) for w in found)


def test_highlights_mark_whole_words_and_words_the_prefix_begins() -> None:
    text = "Prague, prAGUE2 and pragmatic; a_prague"
    marks = highlights(text, ("and", "prag"))
    assert [text[m.start : m.end] for m in marks] == [
        "Prague",
        "prAGUE2",
        "and",
        "pragmatic",
        "prague",
    ]
    assert highlights("🎉 Привет, мир", ("мир",)) == [Highlight(10, 13)]
    assert highlights("İstanbul istanbul", ("istanbul",)) == [Highlight(9, 17)]


@pytest.mark.parametrize("seed", range(20))
def test_the_compiled_rule_is_the_word_by_word_rule(seed: int) -> None:
    shuffle = random.Random(seed)
    for _ in range(200):
        text = "".join(shuffle.choice(ALPHABET) for _ in range(shuffle.randint(0, 40)))
        words = tuple(shuffle.sample(WORDS, shuffle.randint(1, 3)))
        assert highlights(text, words) == _highlights_word_by_word(text, words), (text, words)
        assert matcher(words)(text) == _holds_word_by_word(text, words), (text, words)


def test_words_in_splits_on_anything_but_letters_and_digits() -> None:
    assert words_in("Snake_case, e-mail: A1 a1") == {"snake", "case", "e", "mail", "a1"}
