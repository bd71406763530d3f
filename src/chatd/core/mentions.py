"""Mentions: which names a text's `@name`s are (docs/decisions.md, "Mentions").

`@` then a run of letters, digits, marks, `_`, `.` and `-`, not after a letter or digit (an
address `bob@example.org` mentions nobody), without a trailing `.` or `-` (a sentence may end
right after a name: "ask @bob."). Names compare as usernames clash (core/users.username_key):
`@Alice` mentions alice. Storage resolves the names against the chat's members in the write's
own transaction; a name of nobody there mentions nobody.
"""

from __future__ import annotations

import re

from chatd.core.users import username_key

MENTIONS_MAX = 50  # distinct names a text may mention: more are ignored, not refused

# \w is letters, digits and `_`; combining marks (U+0300-U+036F) keep a decomposed é whole.
_MENTION = re.compile(r"(?<![\w@])@([\w\u0300-\u036f.\-]+)")


def mentioned_names(text: str) -> tuple[str, ...]:
    """The username keys the text mentions, in order of first appearance, each once."""
    if "@" not in text:  # the common case: no regular expression at all
        return ()
    found: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".-")
        if name:
            found.setdefault(username_key(name), None)
            if len(found) == MENTIONS_MAX:
                break
    return tuple(found)
