"""What a reaction may be: one emoji, as Unicode's emoji data lists it (docs/decisions.md,
"Reactions").

The list is the `emoji` package's copy of Unicode's emoji-test.txt: every fully-qualified
sequence (skin tones, ZWJ sequences such as 👩‍💻, flags, keycaps, tag sequences) and the
less-qualified spellings of the same emoji, which are taken as their fully-qualified form (❤
is ❤️), so one emoji never counts as two. A component alone (a skin tone, a hair style) is no
emoji, nor is text, an empty string, or two emoji together.
"""

from __future__ import annotations

import emoji

from chatd.core.errors import InvalidInput
from chatd.core.users import check_characters

_FULLY_QUALIFIED = emoji.STATUS["fully_qualified"]
_COMPONENT = emoji.STATUS["component"]
# Each emoji's name to its fully-qualified spelling: the form a reaction is stored under.
_CANONICAL = {
    data["en"]: value
    for value, data in emoji.EMOJI_DATA.items()
    if data["status"] == _FULLY_QUALIFIED
}
LONGEST = max(map(len, emoji.EMOJI_DATA))  # code points of the longest sequence


def check_emoji(value: str) -> str:
    """The emoji in its fully-qualified form, or InvalidInput (`invalid_emoji`)."""
    check_characters(value, field="emoji")
    data = emoji.EMOJI_DATA.get(value) if len(value) <= LONGEST else None
    if data is None or data["status"] == _COMPONENT:
        shown = value if len(value) <= LONGEST else value[:LONGEST] + "…"
        raise InvalidInput(f"emoji must be one emoji, got {shown!r}", code="invalid_emoji")
    return _CANONICAL.get(data["en"], value)
