"""Users: who they are and how they are named."""

from __future__ import annotations

import unicodedata

from chatd.core import clock
from chatd.core.errors import InvalidInput
from chatd.core.models import UserId
from chatd.core.ports import Store

USERNAME_MAX = 64


def check_name(value: str, *, field: str, max_length: int) -> str:
    """The trimmed name, or InvalidInput when it is empty, too long or has control characters."""
    name = value.strip()
    if not name:
        raise InvalidInput(f"{field} must not be empty", code=f"invalid_{field}")
    if len(name) > max_length:
        raise InvalidInput(
            f"{field} must be at most {max_length} characters, got {len(name)}",
            code=f"invalid_{field}",
        )
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidInput(f"{field} must not contain control characters", code=f"invalid_{field}")
    return name


def username_key(username: str) -> str:
    """The form under which usernames clash: `Alice`, `alice` and `ALICE` are one name.

    NFKC then casefold, computed here rather than with SQL lower() so that SQLite and PostgreSQL
    agree on non-ASCII names.
    """
    return unicodedata.normalize("NFKC", username).casefold()


async def add_user(store: Store, username: str) -> UserId:
    """Registers a user. Raises InvalidInput or UsernameTaken."""
    name = check_name(username, field="username", max_length=USERNAME_MAX)
    return await store.add_user(name, username_key(name), clock.now())
