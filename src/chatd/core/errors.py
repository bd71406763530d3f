"""Domain errors: what went wrong, never which HTTP status that is (api/errors.py decides).

ChatdError                 code, message
├── InvalidInput           a value breaks a rule (length, characters, range)
├── NotFound               an id that does not exist (or that the caller may not know of)
│   ├── UserNotFound
│   ├── ChatNotFound
│   └── MessageNotFound
├── Forbidden              the caller is known but may not do this
│   └── NotAMember
├── Conflict               a uniqueness rule would break
│   ├── UsernameTaken
│   ├── ChatNameTaken
│   ├── ChatIsPrivate
│   ├── MessageDeleted
│   └── IdempotencyKeyInUse  another request with the same key committed first
├── Unavailable            the database cannot be reached now (nothing was written), or is
│                          busy with searches: retry
└── OutcomeUnknown         the connection was lost while committing: it may have been written
"""

from __future__ import annotations

from collections.abc import Iterable


class ChatdError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(ChatdError):
    code = "invalid_input"


class Unauthenticated(ChatdError):
    code = "unauthenticated"


class NotFound(ChatdError):
    code = "not_found"


QUOTE_MAX = 64  # characters of a client's value an error message quotes
IDS_NAMED = 100  # missing ids an error message names


def quoted(value: str, limit: int = QUOTE_MAX) -> str:
    """`value` as an error message quotes it: its repr, cut at `limit` characters (a 1 MB
    invalid email once came back whole in its 400)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def cut(value: str, limit: int = QUOTE_MAX) -> str:
    """`value` as it is, or its first `limit` characters and how long it was."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, user_ids: Iterable[int]) -> None:
        self.user_ids = sorted(set(user_ids))
        noun = "user" if len(self.user_ids) == 1 else "users"
        named = ", ".join(map(str, self.user_ids[:IDS_NAMED]))
        more = len(self.user_ids) - IDS_NAMED
        super().__init__(f"{noun} not found: {named}" + (f" and {more:,} more" if more > 0 else ""))


class ChatNotFound(NotFound):
    code = "chat_not_found"

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        super().__init__(f"chat not found: {chat_id}")


class MessageNotFound(NotFound):
    code = "message_not_found"

    def __init__(self, message_id: int, chat_id: int | None = None) -> None:
        where = "" if chat_id is None else f" in chat {chat_id}"
        super().__init__(f"message {message_id} not found{where}")


class Forbidden(ChatdError):
    code = "forbidden"


class NotAMember(Forbidden):
    code = "not_a_member"

    def __init__(self, user_id: int, chat_id: int) -> None:
        super().__init__(f"user {user_id} is not a member of chat {chat_id}")


class UserBlocked(Forbidden):
    code = "user_blocked"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id} is blocked")


class Conflict(ChatdError):
    code = "conflict"


class UsernameTaken(Conflict):
    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__(f"username already taken: {quoted(username)}")


class ChatNameTaken(Conflict):
    code = "chat_name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"chat name already taken: {quoted(name, 128)}")


class ChatIsPrivate(Conflict):
    code = "chat_is_private"

    def __init__(self, chat_id: int, action: str) -> None:
        super().__init__(f"chat {chat_id} is private: it cannot {action}")


class MessageDeleted(Conflict):
    code = "message_deleted"

    def __init__(self, message_id: int) -> None:
        super().__init__(f"message {message_id} was deleted")


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"

    def __init__(self, key: str) -> None:
        super().__init__(f"another request with Idempotency-Key {quoted(key)} was answered first")


class Unavailable(ChatdError):
    code = "unavailable"

    def __init__(
        self, message: str = "the database cannot be reached now; nothing was changed: retry"
    ) -> None:
        super().__init__(message)


class OutcomeUnknown(ChatdError):
    code = "outcome_unknown"

    def __init__(self) -> None:
        super().__init__(
            "the database connection was lost while committing: the change may or may not "
            "have been made; look before retrying (a retry with the same Idempotency-Key is safe)"
        )
