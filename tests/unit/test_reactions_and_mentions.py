"""The two pure rules of issue 18's messages: what a reaction may be (api/emoji.py) and which
names a text mentions (core/mentions.py)."""

from __future__ import annotations

import pytest

from chatd.api.emoji import check_emoji
from chatd.core.errors import InvalidInput
from chatd.core.mentions import MENTIONS_MAX, mentioned_names


@pytest.mark.parametrize(
    "value",
    [
        "👍",
        "👍🏽",  # a skin tone
        "👩‍💻",  # a ZWJ sequence
        "👨‍👩‍👧‍👦",
        "🧑🏿‍🤝‍🧑🏻",  # ZWJ with two skin tones
        "🇫🇷",  # a flag: two regional indicators
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿",  # a tag sequence
        "#️⃣",  # a keycap
        "1️⃣",
        "❤️",
        "🫠",
    ],
)
def test_one_emoji_is_accepted_as_it_is(value: str) -> None:
    assert check_emoji(value) == value


@pytest.mark.parametrize(("spelled", "stored"), [("❤", "❤️"), ("☺", "☺️"), ("©", "©️")])
def test_a_less_qualified_spelling_is_stored_fully_qualified(spelled: str, stored: str) -> None:
    assert check_emoji(spelled) == stored


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "a",
        "ok",
        ":thumbs_up:",
        "👍👍",  # two
        "👍 ",
        "😀x",
        "🏻",  # a lone skin tone modifier
        "🦰",  # a lone hair component
        "🇫",  # half a flag
        "\u200d",
        "\ufe0f",
        "#",
        "1",
        "👍\x00",
        "\ud83d",
        "👍" * 1000,
    ],
)
def test_anything_but_one_emoji_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_emoji(value)
    assert refused.value.code == "invalid_emoji"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("hello", ()),
        ("@alice", ("alice",)),
        ("hi @Alice and @BOB!", ("alice", "bob")),
        ("@bob, @alice, @bob again", ("bob", "alice")),  # first appearance, once
        ("ask @john.doe.", ("john.doe",)),  # a sentence ends after the name
        ("@user_1 @user-2- @x.", ("user_1", "user-2", "x")),
        ("@Алиса привет", ("алиса",)),  # any script, folded as usernames are
        ("@\uff21\uff2c\uff29\uff23\uff25", ("alice",)),  # fullwidth: NFKC, as username_key
        ("mail bob@example.org", ()),  # an address mentions nobody
        ("@@alice", ()),
        ("@ alice", ()),
        ("@", ()),
        ("@.", ()),
        ("(@alice)", ("alice",)),
        ("x@alice", ()),
        ("#@alice", ("alice",)),
    ],
)
def test_mentioned_names(text: str, names: tuple[str, ...]) -> None:
    assert mentioned_names(text) == names


def test_a_text_mentions_at_most_so_many_names() -> None:
    text = " ".join(f"@u{n}" for n in range(MENTIONS_MAX + 10))
    assert len(mentioned_names(text)) == MENTIONS_MAX
