"""Steps the API v1 tests share: accounts with tokens, chats and messages made through the API,
and direct looks at the database the app itself uses (through its store, on either database).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from chatd.app import create_app
from chatd.config import Settings
from chatd.storage.store import SqlStore

PASSWORD = "correct horse battery staple"
ACCOUNT_KEYS = ["blocked", "created_at", "email", "id", "role", "username"]
MESSAGE_KEYS = [
    "author",
    "chat",
    "created_at",
    "deleted",
    "edited_at",
    "id",
    "mentions",
    "mentions_me",
    "reactions",
    "reply_to",
    "seq",
    "text",
]
CHAT_KEYS = [
    "created_at",
    "id",
    "is_private",
    "last_message",
    "last_message_at",
    "last_read_seq",
    "last_seq",
    "mention_count",
    "name",
    "owner",
    "unread_count",
    "users",
]


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    """The app under test: its HTTP client, and the app itself for what HTTP cannot reach
    (roles, raw rows)."""

    http: httpx.AsyncClient
    app: FastAPI

    @property
    def store(self) -> SqlStore:
        store: SqlStore = self.app.state.store
        return store

    @asynccontextmanager
    async def client_from(self, address: str) -> AsyncIterator[httpx.AsyncClient]:
        """Another client of the same app, connecting from `address` (for per-address limits)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://chatd") as http:
            yield http

    async def rows(self, query: str, **params: Any) -> list[sa.Row[Any]]:
        """The rows of a read-only SQL query, from the app's own database."""
        return await self.store.db.read(_fetch, sa.text(query), params)

    async def scalar(self, query: str, **params: Any) -> Any:
        found = await self.rows(query, **params)
        assert len(found) == 1, found
        return found[0][0]

    async def execute(self, statement: sa.Executable) -> None:
        """Runs a write (e.g. a SQLAlchemy Core update, which converts times per database)."""
        await self.store.db.write(_run, statement)

    async def make_moderator(self, user: User) -> None:
        await self.app.state.accounts.set_role(user.username, "moderator")


def _fetch(conn: sa.Connection, query: sa.TextClause, params: dict[str, Any]) -> list[Any]:
    return list(conn.execute(query, params).all())


def _run(conn: sa.Connection, statement: sa.Executable) -> None:
    conn.execute(statement)


@asynccontextmanager
async def open_api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chatd") as http:
            yield Api(http, app)


def unique_names(prefix: str) -> Callable[[], str]:
    """A source of fresh names: `prefix-1`, `prefix-2`, ..."""
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def register(
    http: httpx.AsyncClient, username: str, password: str = PASSWORD, email: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"username": username, "password": password}
    if email is not None:
        body["email"] = email
    account: dict[str, Any] = ok(await http.post("/api/v1/users", json=body), 201)
    return account


async def log_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    body = {"username": username, "password": password}
    session = ok(await http.post("/api/v1/auth/tokens", json=body), 201)
    token: str = session["token"]
    return token


async def sign_up(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> User:
    """A registered user with a fresh token."""
    account = await register(http, username, password)
    return User(account["id"], username, password, await log_in(http, username, password))


async def sign_up_many(http: httpx.AsyncClient, *usernames: str) -> list[User]:
    return [await sign_up(http, name) for name in usernames]


async def create_chat(
    http: httpx.AsyncClient, owner: User, name: str, users: Sequence[User] = ()
) -> dict[str, Any]:
    body = {"name": name, "users": [u.id for u in users]}
    chat: dict[str, Any] = ok(await http.post("/api/v1/chats", json=body, headers=owner.auth), 201)
    return chat


async def send(http: httpx.AsyncClient, author: User, chat: int, text: str) -> dict[str, Any]:
    path = f"/api/v1/chats/{chat}/messages"
    message: dict[str, Any] = ok(
        await http.post(path, json={"text": text}, headers=author.auth), 201
    )
    return message


async def send_direct(http: httpx.AsyncClient, author: User, to: int, text: str) -> dict[str, Any]:
    path = f"/api/v1/direct/{to}/messages"
    message: dict[str, Any] = ok(
        await http.post(path, json={"text": text}, headers=author.auth), 201
    )
    return message


async def show_chat(http: httpx.AsyncClient, viewer: User, chat: int, **query: Any) -> Any:
    return ok(await http.get(f"/api/v1/chats/{chat}", params=query, headers=viewer.auth))


async def list_chats(http: httpx.AsyncClient, viewer: User, **query: Any) -> Any:
    return ok(await http.get("/api/v1/chats", params=query, headers=viewer.auth))


async def history(http: httpx.AsyncClient, viewer: User, chat: int, **query: Any) -> Any:
    path = f"/api/v1/chats/{chat}/messages"
    return ok(await http.get(path, params=query, headers=viewer.auth))


async def block(http: httpx.AsyncClient, moderator: User, user: User) -> None:
    ok(await http.put(f"/api/v1/users/{user.id}/block", headers=moderator.auth), 204)


async def unblock(http: httpx.AsyncClient, moderator: User, user: User) -> None:
    ok(await http.delete(f"/api/v1/users/{user.id}/block", headers=moderator.auth), 204)
