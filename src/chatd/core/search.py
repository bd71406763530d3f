"""Message search: which words a query holds, which chats the caller may search, and where the
found words stand in a message's text (docs/decisions.md, "Search").

A word is a run of Unicode letters and digits: the rule of both databases' indexes (SQLite
FTS5's unicode61 tokenizer, PostgreSQL's `simple` configuration), so what is found and what is
marked agree. Words compare lowercased, as the indexes fold them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from chatd.core.chats import access_chat
from chatd.core.errors import Forbidden, InvalidInput
from chatd.core.models import Caller, ChatId, Message, MessageId, UserId
from chatd.core.ports import Store

QUERY_MAX = 256  # characters of `q`
WORDS_MAX = 10
LIMIT_MAX = 100
LIMIT_DEFAULT = 20

_WORD = re.compile(r"[^\W_]+")  # \w without the underscore: letters and digits


@dataclass(frozen=True, slots=True)
class Search:
    """What storage looks for: messages holding every word (the last as a prefix), newest
    first, with an id below `before`; in `viewer`'s chats, or in every chat when None."""

    words: tuple[str, ...]
    viewer: UserId | None
    chat: ChatId | None
    author: UserId | None
    limit: int
    before: MessageId | None = None


class Highlight(NamedTuple):
    """A found word's place in the text, in code points: text[start:end]."""

    start: int
    end: int


class Found(NamedTuple):
    message: Message
    highlights: list[Highlight]


class Results(NamedTuple):
    found: list[Found]
    more_before: MessageId | None  # the `before` of the next page; None: this one is the last


class SearchStore(Store, Protocol):
    """The store with search (storage/store.py's SqlStore is one): kept beside the use case
    until it joins ports.Store."""

    async def search_messages(self, query: Search) -> list[Message]:
        """Visible messages only: a tombstone holds no words."""
        ...


def words_of(q: str) -> tuple[str, ...]:
    """The query's words, lowercased. Raises InvalidInput for a query too long, with no word,
    or with too many."""
    if len(q) > QUERY_MAX:
        raise InvalidInput(
            f"q must be at most {QUERY_MAX} characters, got {len(q)}", code="invalid_query"
        )
    words = tuple(word.lower() for word in _WORD.findall(q))
    if not words:
        raise InvalidInput("q must hold at least one letter or digit", code="invalid_query")
    if len(words) > WORDS_MAX:
        raise InvalidInput(f"q must hold at most {WORDS_MAX} words", code="invalid_query")
    return words


def highlights(text: str, words: tuple[str, ...]) -> list[Highlight]:
    """Each word of `text` that a query word finds: the same word, or for the last query word,
    any word it begins."""
    folded = text.lower()
    if len(folded) != len(text):
        # Lowercasing changed the length (a dotted İ becomes two code points): the offsets in
        # the folded text would not be the text's own.
        return _highlights_word_by_word(text, words)
    return [Highlight(*found.span()) for found in _marker(words).finditer(folded)]


@functools.lru_cache(maxsize=64)
def _marker(words: tuple[str, ...]) -> re.Pattern[str]:
    """A found word in lowercased text: a run of letters and digits that is one of the whole
    words or begins with the prefix, with no letter or digit before it."""
    *whole, prefix = words
    found = [rf"{re.escape(prefix)}[^\W_]*"]
    found += [rf"{re.escape(word)}(?![^\W_])" for word in sorted(set(whole), key=len)[::-1]]
    return re.compile(rf"(?<![^\W_])(?:{'|'.join(found)})")


def _highlights_word_by_word(text: str, words: tuple[str, ...]) -> list[Highlight]:
    *whole, prefix = words
    exact = set(whole)
    found = []
    for match in _WORD.finditer(text):
        word = match[0].lower()
        if word in exact or word.startswith(prefix):
            found.append(Highlight(match.start(), match.end()))
    return found


def words_in(text: str) -> set[str]:
    """The distinct words of `text`, lowercased, as the indexes split it."""
    return set(_WORD.findall(text.lower()))


def matcher(words: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a text holds every word, the last as the start of a word: the indexes' rule,
    compiled once for the texts of a search (no text is split into words to say it)."""
    *whole, prefix = words
    # A word of the text is a run of letters and digits: none may stand on either side of a
    # whole word, nor before the prefix.
    patterns = [re.compile(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])") for word in whole]
    patterns.append(re.compile(rf"(?<![^\W_]){re.escape(prefix)}"))

    def holds(text: str) -> bool:
        folded = text.lower()
        # Most texts are told no by a substring test, the cheapest there is.
        if not all(word in folded for word in words):
            return False
        return all(pattern.search(folded) for pattern in patterns)

    return holds


async def search(
    store: SearchStore,
    caller: Caller,
    q: str,
    *,
    chat: ChatId | None = None,
    author: UserId | None = None,
    everyone: bool = False,
    limit: int = LIMIT_DEFAULT,
    before: MessageId | None = None,
) -> Results:
    """Messages the caller may read whose text holds the query's words, newest first. Raises
    InvalidInput, Forbidden (every chat, asked by a non-moderator) or ChatNotFound (a chat the
    caller may not read)."""
    words = words_of(q)
    if not 1 <= limit <= LIMIT_MAX:
        raise InvalidInput(
            f"limit must be between 1 and {LIMIT_MAX}, got {limit}", code="invalid_limit"
        )
    if everyone and not caller.is_moderator:
        raise Forbidden("only moderators may search every chat", code="not_moderator")
    viewer: UserId | None = None if everyone else caller.id
    if chat is not None:
        # The rule of every read of one chat: members and moderators; others learn nothing.
        await access_chat(store, caller, chat)
        viewer = None
    # One more than asked tells whether a next page exists without a count query.
    found = await store.search_messages(Search(words, viewer, chat, author, limit + 1, before))
    page = [Found(message, highlights(message.text, words)) for message in found[:limit]]
    return Results(page, page[-1].message.id if len(found) > limit else None)
