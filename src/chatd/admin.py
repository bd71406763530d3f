"""`chatd users ...`: account administration from the command line (passwords from stdin)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC

from chatd.app import build_accounts
from chatd.config import Settings
from chatd.core.errors import ChatdError
from chatd.core.models import Account, Role
from chatd.core.users import list_users
from chatd.realtime.broker import publish_once
from chatd.storage import migrate
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore


def read_password() -> str:
    """The first line of stdin, without its line break (so a password may hold spaces)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


class Hints:
    """What a command (`chatd users`, `chatd demo`) changed that streams follow: hinted through
    the broker at the end, as the server hints its own writes, so open streams learn of it at
    once (a block closes the user's streams within a second)."""

    def __init__(self) -> None:
        self.topics: set[str] = set()
        self.pos = 0

    def publish(self, topics: Iterable[str], pos: int) -> None:
        self.topics.update(topics)
        self.pos = max(self.pos, pos)

    async def send(self, settings: Settings, late: str) -> None:
        """Hints the broker, once; if it cannot be reached, says what is late and by how much
        (the servers' sweep finds the changes in the log anyway)."""
        if self.topics and not await publish_once(
            settings.broker_url, settings.database_url, self.topics, self.pos
        ):
            print(
                f"chatd: the broker could not be reached: {late} within "
                f"{settings.stream_sweep_seconds} s instead",
                file=sys.stderr,
            )


async def _run(settings: Settings, action: str, username: str, moderator: bool) -> str:
    hints = Hints()
    try:
        return await _act(settings, hints, action, username, moderator)
    finally:
        await hints.send(settings, "open streams learn of this")


async def _act(
    settings: Settings, hints: Hints, action: str, username: str, moderator: bool
) -> str:
    database = open_database(settings)
    store = SqlStore(database, hints)
    try:
        accounts = build_accounts(store, settings)
        if action == "add":
            role: Role = "moderator" if moderator else "user"
            account = await accounts.register(username, read_password(), role=role)
            return f"added {account.role} {account.username} (id {account.id})"
        if action == "list":
            return accounts_table(await list_users(store))
        if action in ("block", "unblock"):
            account = await accounts.set_blocked_by_operator(username, action == "block")
            state = "blocked" if account.blocked_at else "not blocked"
            return f"{account.username} (id {account.id}) is {state}"
        if action == "set-password":
            account = await accounts.set_password(username, read_password())
            return f"password set for {account.username}"
        account = await accounts.set_role(username, "moderator" if action == "promote" else "user")
        return f"{account.username} is now a {account.role}"
    finally:
        await store.close()
        await database.dispose()


def accounts_table(accounts: Sequence[Account]) -> str:
    """One account a line under a header, in aligned columns."""
    rows = [("id", "username", "role", "blocked", "created_at")]
    for account in accounts:
        blocked = "no" if account.blocked_at is None else "yes"
        created = account.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((str(account.id), account.username, account.role, blocked, created))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)


def users_command(settings: Settings, action: str, username: str, moderator: bool) -> int:
    migrate.upgrade(settings.database_url)
    try:
        print(asyncio.run(_run(settings, action, username, moderator)))
    except ChatdError as exc:
        print(f"chatd: {exc.message}", file=sys.stderr)
        return 1
    return 0
