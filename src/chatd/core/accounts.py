"""Accounts: registration, passwords, tokens, roles and blocking.

Passwords are hashed with the PasswordHasher port (argon2id), off the event loop. Tokens carry
256 random bits and are stored only as their SHA-256: the table alone lets nobody in.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from chatd.core import clock, writes
from chatd.core.errors import (
    Forbidden,
    InvalidInput,
    Unauthenticated,
    UserBlocked,
    UserNotFound,
    quoted,
)
from chatd.core.idempotency import Receipt
from chatd.core.models import Account, Caller, Role, UserId
from chatd.core.ports import NewUser, PasswordHasher, Store
from chatd.core.users import USERNAME_MAX, check_characters, check_name, username_key

PASSWORD_MIN = 8
PASSWORD_MAX = 1024
EMAIL_MAX = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Session(NamedTuple):
    token: str  # shown once, never stored
    expires_at: datetime
    account: Account


def check_password(password: str) -> str:
    """The password, or InvalidInput when it is outside 8..1024 characters or holds a NUL or a
    surrogate."""
    check_characters(password, field="password")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(
            f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long",
            code="invalid_password",
        )
    return password


def check_email(email: str) -> str:
    """The trimmed address, or InvalidInput when it does not look like one."""
    address = check_characters(email, field="email").strip()
    if len(address) > EMAIL_MAX or not _EMAIL.fullmatch(address):
        raise InvalidInput(f"email is not a valid address: {quoted(email)}", code="invalid_email")
    return address


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """The account use cases, holding the hasher and a dummy hash for constant-time logins."""

    def __init__(self, store: Store, hasher: PasswordHasher, token_ttl: timedelta) -> None:
        self.store = store
        self.hasher = hasher
        self.token_ttl = token_ttl
        self._dummy_hash: str | None = None

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def register(
        self, username: str, password: str, email: str | None = None, role: Role = "user"
    ) -> Account:
        """A new account. Raises InvalidInput or UsernameTaken."""
        name = check_name(username, field="username", max_length=USERNAME_MAX)
        address = None if email is None else check_email(email)
        password_hash = await self._hash(check_password(password))
        new = NewUser(name, username_key(name), clock.now(), password_hash, address, role)
        user = await self.store.write(None, writes.do_add_user, new)
        return await self.store.get_account(user)

    async def log_in(self, username: str, password: str) -> Session:
        """A new token. Raises Unauthenticated (same answer, same time, for a wrong username
        or a wrong password), UserBlocked, or InvalidInput for a NUL or a surrogate (no name
        or password holds one)."""
        check_characters(username, field="username")
        check_characters(password, field="password")
        credentials = await self.store.find_credentials(username_key(username.strip()))
        known_hash = credentials.password_hash if credentials else None
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_hex(16))
        # Verify against a dummy when there is no real hash: the same work either way.
        verified = await asyncio.to_thread(
            self.hasher.verify, known_hash or self._dummy_hash, password
        )
        if credentials is None or known_hash is None or not verified:
            raise Unauthenticated("wrong username or password", code="invalid_credentials")
        if credentials.blocked:
            raise UserBlocked(credentials.user)
        token = secrets.token_urlsafe(32)  # 256 bits
        now = clock.now()
        expires_at = now + self.token_ttl
        await self.store.write(
            None, writes.do_add_token, credentials.user, token_hash(token), now, expires_at
        )
        return Session(token, expires_at, await self.store.get_account(credentials.user))

    async def authenticate(self, token: str) -> Caller:
        """The token's owner. Raises Unauthenticated for an unknown, expired or revoked token,
        or one whose owner is blocked."""
        caller = await self.store.find_caller(token_hash(token), clock.now())
        if caller is None:
            raise Unauthenticated("the token is invalid, expired or revoked", code="invalid_token")
        return caller

    async def log_out(self, caller: Caller, receipt: Receipt | None = None) -> None:
        """Revokes the token in use."""
        await self.store.write(receipt, writes.do_delete_token, caller.token_id)

    async def set_password(self, username: str, password: str) -> Account:
        """Sets (or resets) a password. Raises UserNotFound or InvalidInput."""
        account = await self.find_by_name(username)
        password_hash = await self._hash(check_password(password))
        await self.store.write(None, writes.do_set_password_hash, account.id, password_hash)
        return account

    async def set_role(self, username: str, role: Role) -> Account:
        account = await self.find_by_name(username)
        await self.store.write(None, writes.do_set_role, account.id, role)
        return await self.store.get_account(account.id)

    async def find_by_name(self, username: str) -> Account:
        account = await self.store.find_account(username_key(username.strip()))
        if account is None:
            raise InvalidInput(f"no user named {quoted(username)}", code="unknown_username")
        return account

    async def set_blocked(
        self, caller: Caller, user: UserId, blocked: bool, receipt: Receipt | None = None
    ) -> None:
        """Blocks or unblocks a user: moderators only, never themselves. Raises Forbidden or
        UserNotFound."""
        if not caller.is_moderator:
            raise Forbidden("only moderators may block or unblock users", code="not_moderator")
        if user == caller.id:
            raise Forbidden("moderators cannot block themselves", code="cannot_block_self")
        await self.store.write(
            receipt, writes.do_set_blocked, user, clock.now() if blocked else None
        )

    async def set_blocked_by_operator(self, username: str, blocked: bool) -> Account:
        """Blocks or unblocks a user by name, as the operator of the server (the command line,
        like set_role): no moderator is needed and any account may be blocked. Raises
        InvalidInput for an unknown name."""
        account = await self.find_by_name(username)
        await self.store.write(
            None, writes.do_set_blocked, account.id, clock.now() if blocked else None
        )
        return await self.store.get_account(account.id)


async def me(store: Store, caller: Caller) -> Account:
    """The caller's account."""
    try:
        return await store.get_account(caller.id)
    except UserNotFound as exc:  # deleted between authentication and now
        raise Unauthenticated("the token's user no longer exists", code="invalid_token") from exc
