"""Users: who they are and how they are named; and the one rule every incoming string obeys
(check_characters), which check_name and the other core checks build on."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from chatd.core import clock, writes
from chatd.core.errors import InvalidInput
from chatd.core.models import Account, UserId
from chatd.core.ports import NewUser, Store

USERNAME_MAX = 64
LOOKUP_LIMIT_DEFAULT = 10
IDS_MAX = 100  # profiles by id in one lookup: a page of a chat's members or authors
LOOKUP_LIMIT_MAX = 20  # a prefix search finds a few names; it is no directory to page through

# Ids and seqs are signed 64-bit integers (BIGINT): no larger one can be stored or exist.
INT64_MAX = 2**63 - 1

# NUL: PostgreSQL text cannot hold it. Surrogates: no UTF-8 encodes them, yet a JSON parser may
# hand over a lone "\ud800" escape as one.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def check_characters(value: str, *, field: str) -> str:
    """The value, or InvalidInput (`invalid_<field>`) when it holds a NUL or a surrogate: the
    one rule for every string that comes in, so both databases store the same strings."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return value
    nul = found.group() == "\x00"
    what = "the NUL control character" if nul else "lone surrogates (\\ud800-\\udfff)"
    raise InvalidInput(f"{field} must not contain {what}", code=f"invalid_{field}")


def check_name(value: str, *, field: str, max_length: int) -> str:
    """The trimmed name, or InvalidInput when it is empty, too long or has control characters."""
    name = check_characters(value, field=field).strip()
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
    return await store.write(
        None, writes.do_add_user, NewUser(name, username_key(name), clock.now())
    )


async def find_users(
    store: Store,
    *,
    username: str | None = None,
    prefix: str | None = None,
    ids: Sequence[UserId] | None = None,
    limit: int = LOOKUP_LIMIT_DEFAULT,
) -> list[Account]:
    """The account named `username` (ignoring case, as names clash), or up to `limit` accounts
    whose names start with `prefix` (ignoring case), ordered by name, or the accounts among
    `ids` (up to IDS_MAX; a client showing a chat learns its members' names), ordered by id.
    Raises InvalidInput unless exactly one of the three is given and not blank, or when `limit`
    is outside 1..20."""
    if sum(given is not None for given in (username, prefix, ids)) != 1:
        raise InvalidInput("give exactly one of username, prefix and id", code="invalid_query")
    if ids is not None:
        if not 1 <= len(ids) <= IDS_MAX:
            raise InvalidInput(f"give 1 to {IDS_MAX} ids", code="invalid_query")
        return await store.accounts_by_id(sorted(set(ids)))
    if prefix is None:
        name = check_characters(username or "", field="username").strip()
        if not name:
            raise InvalidInput("username must not be empty", code="invalid_username")
        account = await store.find_account(username_key(name))
        return [] if account is None else [account]
    # Only leading blanks go: names are trimmed, but "bob " may begin "bob smith".
    key = username_key(check_characters(prefix, field="prefix").lstrip())
    if not key:
        raise InvalidInput("prefix must not be empty", code="invalid_prefix")
    if not 1 <= limit <= LOOKUP_LIMIT_MAX:
        raise InvalidInput(f"limit must be 1 to {LOOKUP_LIMIT_MAX}", code="invalid_limit")
    return await store.list_accounts(key, limit)


async def list_users(store: Store) -> list[Account]:
    """Every account, oldest first (for the operator: `chatd users list`)."""
    return sorted(await store.list_accounts(), key=lambda account: account.id)
