"""`chatd demo`: a database filled with people, chats and messages that look real, to try the web
client and the benchmarks on.

What to make is decided first, from the seed alone (`plan_people`, `plan_chats`,
`plan_messages`); then it is made through the use cases the APIs call (registration, group
creation, private and chat sends), so every row, change-log entry, read marker and listing entry
is what the server would have written. Times are the service layer's own: now, as each write
commits (a run of a minute spreads its messages over that minute).

Speed comes from the group commit (storage/groupcommit.py): up to IN_FLIGHT writes wait at once,
so each transaction carries a full group of sends (on SQLite, one fsync for 256 messages).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from collections.abc import Coroutine, Iterable
from datetime import timedelta
from itertools import count, islice, repeat
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from tqdm import tqdm  # type: ignore[import-untyped]

from chatd.admin import Hints
from chatd.config import Settings
from chatd.core.accounts import Accounts
from chatd.core.chats import create_group
from chatd.core.errors import ChatdError, UsernameTaken
from chatd.core.messages import post_message, send_direct
from chatd.core.models import Account, Caller, ChatId, Role, UserId
from chatd.core.ports import PasswordHasher
from chatd.demo_plan import ChatPlan, message_text, plan_chats, plan_messages, plan_people
from chatd.passwords import Argon2Hasher
from chatd.storage import migrate
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore

T = TypeVar("T")

# Every demo account's password: printed at the end, for demos only.
DEMO_PASSWORD = "chatd-demo"
IN_FLIGHT = 1024  # writes waiting for their commit at once: four full groups (MAX_GROUP)


class Sizes(NamedTuple):
    users: int
    chats: int
    messages: int


class NotEmpty(Exception):
    """The database already has users, and the demo was not told to add to them."""


class _HashOnce:
    """Hashes each password once and gives that hash again: every demo account shares one
    password, and argon2id at the configured cost takes ~0.1 s a hash (1,000 accounts: minutes
    of CPU for nothing). The accounts share one salt; the password is printed anyway."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()  # called from worker threads

    def hash(self, password: str) -> str:
        with self._lock:
            if password not in self._hashes:
                self._hashes[password] = self._hasher.hash(password)
            return self._hashes[password]

    def verify(self, password_hash: str, password: str) -> bool:
        return self._hasher.verify(password_hash, password)


def _as(user: UserId) -> Caller:
    # The demo acts for each person as the API does once it has authenticated them; no token
    # exists (a Caller's token is read only to log out).
    return Caller(user, "user", 0)


async def _pour(
    calls: Iterable[Coroutine[Any, Any, T]], total: int, label: str, *, keep: bool = True
) -> list[T]:
    """Runs the calls with up to IN_FLIGHT at once, a bar counting them; their results in order
    (if `keep`). The first failure cancels the rest and is raised."""
    results: dict[int, T] = {}
    running: dict[asyncio.Future[T], int] = {}
    waiting = enumerate(calls)  # made lazily: 100,000 coroutines at once would cost memory
    bar = tqdm(
        total=total,
        desc=label,
        unit=f" {label}",
        unit_scale=total >= 10_000,  # 12.3k messages, but 200 users
        disable=None,
        file=sys.stderr,
        leave=False,
    )
    try:
        while True:
            for index, call in islice(waiting, IN_FLIGHT - len(running)):
                running[asyncio.ensure_future(call)] = index
            if not running:
                break
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                index = running.pop(task)
                result = task.result()
                if keep:
                    results[index] = result
            bar.update(len(done))
    finally:
        for task in running:
            task.cancel()
        bar.close()
    return [results[i] for i in range(len(results))]


async def _register(accounts: Accounts, name: str, role: Role) -> Account:
    # A name taken by data already there (--into-existing): the next free numbered variant.
    for number in count(1):
        try:
            candidate = name if number == 1 else f"{name}{number}"
            return await accounts.register(candidate, DEMO_PASSWORD, role=role)
        except UsernameTaken:
            continue
    raise AssertionError("unreachable")


async def _open_chat(
    store: SqlStore, plan: ChatPlan, ids: list[UserId], opener: str, max_length: int
) -> ChatId:
    owner, *others = [ids[person] for person in plan.members]
    if plan.name is None:  # a private chat is made by its first message, as in the API
        return (await send_direct(store, _as(owner), others[0], opener, max_length=max_length)).chat
    # Group names need not be unique (docs/decisions.md §32): a second run reuses them.
    return (await create_group(store, _as(owner), plan.name, others)).id


class Made(NamedTuple):
    accounts: list[Account]  # the first is a moderator
    groups: int
    private: int
    messages: int


async def fill(settings: Settings, sizes: Sizes, seed: int, into_existing: bool) -> Made:
    """Makes the plan of `seed` in the database. Raises NotEmpty when it has users and not
    `into_existing` (before writing anything), or the ChatdError of a refused write."""
    hints = Hints()
    database = open_database(settings)
    store = SqlStore(database, hints)
    try:
        if not into_existing and await store.list_accounts("", 1):
            raise NotEmpty
        return await _make(store, settings, sizes, random.Random(seed))
    finally:
        await store.close()
        await database.dispose()
        await hints.send(settings, "running servers show the demo data")


async def _make(store: SqlStore, settings: Settings, sizes: Sizes, rng: random.Random) -> Made:
    people = plan_people(rng, sizes.users)
    planned = plan_chats(rng, sizes.chats, sizes.users)
    # Each private chat is made by its first message: as many as there are messages for.
    private = [chat for chat in planned if chat.name is None][: sizes.messages]
    chats = private + [chat for chat in planned if chat.name is not None]
    accounts = Accounts(
        store,
        _HashOnce(Argon2Hasher(settings.argon2_profile)),
        timedelta(days=settings.token_ttl_days),
    )
    roles: list[Role] = ["user"] * len(people)
    roles[:1] = ["moderator"]  # someone who sees "All chats" in the web client
    made = await _pour(map(_register, repeat(accounts), people, roles), len(people), "users")
    ids = [account.id for account in made]
    longest = settings.max_text_length
    openers = [
        message_text(rng, chat.script, longest) if chat.name is None else "" for chat in chats
    ]
    calls = map(_open_chat, repeat(store), chats, repeat(ids), openers, repeat(longest))
    chat_ids = await _pour(calls, len(chats), "chats")
    rest = sizes.messages - len(private)
    sends = (
        post_message(store, chat_ids[chat], ids[author], text, max_length=longest)
        for chat, author, text in plan_messages(rng, chats, rest, longest)
    )
    await _pour(sends, rest, "messages", keep=False)
    return Made(made, len(chats) - len(private), len(private), sizes.messages)


def check_sizes(sizes: Sizes) -> str | None:
    """What is wrong with the sizes, or None."""
    if min(sizes) < 0:
        return "--users, --chats and --messages must not be negative"
    if sizes.chats and not sizes.users:
        return "chats need users: give --users 1 or more"
    if sizes.messages and not sizes.chats:
        return "messages need chats: give --chats 1 or more"
    return None


def demo_command(settings: Settings, sizes: Sizes, seed: int, into_existing: bool) -> int:
    wrong = check_sizes(sizes)
    if wrong is not None:
        print(f"chatd: {wrong}", file=sys.stderr)
        return 2
    started = time.monotonic()
    migrate.upgrade(settings.database_url)
    try:
        made = asyncio.run(fill(settings, sizes, seed, into_existing))
    except NotEmpty:
        print(
            "chatd: the database already has users: chatd demo fills only an empty one "
            "(add --into-existing to add the demo data to it)",
            file=sys.stderr,
        )
        return 1
    except ChatdError as exc:
        print(f"chatd: {exc.message}", file=sys.stderr)
        return 1
    print(summary(settings, made, time.monotonic() - started))
    return 0


def summary(settings: Settings, made: Made, seconds: float) -> str:
    """What was made, how to log in, and how to serve it."""
    url = sa.make_url(settings.database_url).render_as_string(hide_password=True)
    counts = (
        _count(len(made.accounts), "user"),
        _count(made.groups, "group chat"),
        _count(made.private, "private chat"),
    )
    lines = [
        f"made {', '.join(counts)} and {_count(made.messages, 'message')} in {seconds:.1f} s",
    ]
    if made.accounts:
        moderator, *others = (account.username for account in made.accounts)
        lines += [
            f"every demo user's password is {DEMO_PASSWORD!r} (for demos only: anyone who "
            "reads this can log in as them)",
            f"log in as {others[0]}, or as {moderator} (a moderator)"
            if others
            else f"log in as {moderator} (a moderator)",
        ]
    lines.append(f"try it: chatd serve --database-url {url}  (then open http://localhost:9000/)")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
