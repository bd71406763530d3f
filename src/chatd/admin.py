"""`chatd users ...`: account administration from the command line (passwords from stdin)."""

from __future__ import annotations

import asyncio
import sys

from chatd.app import build_accounts
from chatd.config import Settings
from chatd.core.errors import ChatdError
from chatd.core.models import Role
from chatd.storage import migrate
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore


def read_password() -> str:
    """The first line of stdin, without its line break (so a password may hold spaces)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


async def _run(settings: Settings, action: str, username: str, moderator: bool) -> str:
    database = open_database(settings)
    try:
        store = SqlStore(database)
        accounts = build_accounts(store, settings)
        if action == "add":
            role: Role = "moderator" if moderator else "user"
            account = await accounts.register(username, read_password(), role=role)
            return f"added {account.role} {account.username} (id {account.id})"
        if action == "set-password":
            account = await accounts.set_password(username, read_password())
            return f"password set for {account.username}"
        account = await accounts.set_role(username, "moderator" if action == "promote" else "user")
        return f"{account.username} is now a {account.role}"
    finally:
        await database.dispose()


def users_command(settings: Settings, action: str, username: str, moderator: bool) -> int:
    migrate.upgrade(settings.database_url)
    try:
        print(asyncio.run(_run(settings, action, username, moderator)))
    except ChatdError as exc:
        print(f"chatd: {exc.message}", file=sys.stderr)
        return 1
    return 0
