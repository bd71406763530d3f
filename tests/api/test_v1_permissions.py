"""The permission table: every v1 endpoint against every kind of caller, with the exact status.

Each row runs in a world of its own (fresh users, chat and message), and each cell of a
destructive row too, so deleting the chat or leaving it in one cell cannot change the answer of
another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatd.app import create_app
from chatd.config import Settings
from tests.api.v1_helpers import (
    PASSWORD,
    Api,
    User,
    block,
    create_chat,
    send,
    sign_up,
    unique_names,
)

ROLES = ("anonymous", "non_member", "member", "owner", "moderator", "blocked")


def _row(*statuses: int) -> dict[str, int]:
    return dict(zip(ROLES, statuses, strict=True))


# The chat is a group chat of owner, member and blocked; the message is the member's; the target
# of direct messages and blocks is a user outside it. Logging in uses the caller's own password
# (the anonymous caller: the target's). The moderator is in no chat.
# fmt: off
EXPECTED: dict[str, dict[str, int]] = {
    #                                  anonymous non_member member owner moderator blocked
    "POST /users":                     _row(201, 201, 201, 201, 201, 201),
    "POST /auth/tokens":               _row(201, 201, 201, 201, 201, 403),
    "DELETE /auth/tokens/current":     _row(401, 204, 204, 204, 204, 401),
    "GET /me":                         _row(401, 200, 200, 200, 200, 401),
    "GET /rules":                      _row(200, 200, 200, 200, 200, 200),
    "GET /chats":                      _row(401, 200, 200, 200, 200, 401),
    "GET /chats?scope=all":            _row(401, 403, 403, 403, 200, 401),
    "POST /chats":                     _row(401, 201, 201, 201, 201, 401),
    "GET /chats/{chat}":               _row(401, 404, 200, 200, 200, 401),
    "PATCH /chats/{chat}":             _row(401, 404, 403, 200, 200, 401),
    "POST /chats/{chat}/leave":        _row(401, 404, 204, 204, 403, 401),
    "DELETE /chats/{chat}":            _row(401, 404, 403, 204, 204, 401),
    "POST /chats/{chat}/read":         _row(401, 404, 200, 200, 403, 401),
    "GET /chats/{chat}/messages":      _row(401, 404, 200, 200, 200, 401),
    "POST /chats/{chat}/messages":     _row(401, 404, 201, 201, 403, 401),
    "POST /direct/{target}/messages":  _row(401, 201, 201, 201, 201, 401),
    "PATCH /messages/{message}":       _row(401, 404, 200, 403, 403, 401),
    "DELETE /messages/{message}":      _row(401, 404, 204, 403, 204, 401),
    "PUT /messages/{message}/reactions/{emoji}":    _row(401, 404, 200, 200, 403, 401),
    "DELETE /messages/{message}/reactions/{emoji}": _row(401, 404, 200, 200, 403, 401),
    "GET /users?prefix=a":             _row(401, 200, 200, 200, 200, 401),
    "PUT /users/{target}/block":       _row(401, 403, 403, 403, 204, 401),
    "DELETE /users/{target}/block":    _row(401, 403, 403, 403, 204, 401),
    "GET /search?q=member":            _row(401, 200, 200, 200, 200, 401),
    "GET /search?q=the&chat={chat}":   _row(401, 404, 200, 200, 200, 401),
    "GET /search?q=the&scope=all":     _row(401, 403, 403, 403, 200, 401),
}
# fmt: on

# Rows where one cell's success would change another's answer (the owner deletes the chat, so
# the moderator would find nothing to delete).
DESTRUCTIVE = {"POST /chats/{chat}/leave", "DELETE /chats/{chat}", "DELETE /messages/{message}"}


@dataclass(frozen=True)
class World:
    users: dict[str, User]  # by role, "anonymous" excepted
    target: User
    chat: int
    message: int


async def _world(api: Api, prefix: str) -> World:
    users = {role: await sign_up(api.http, f"{prefix} {role}") for role in ROLES[1:]}
    target = await sign_up(api.http, f"{prefix} target")
    await api.make_moderator(users["moderator"])
    members = [users["member"], users["blocked"]]
    chat = (await create_chat(api.http, users["owner"], f"{prefix} chat", members))["id"]
    message = (await send(api.http, users["member"], chat, "the member's message"))["id"]
    await block(api.http, users["moderator"], users["blocked"])
    return World(users, target, chat, message)


def _body(endpoint: str, role: str, world: World, name: str) -> dict[str, Any] | None:
    match endpoint:
        case "POST /users":
            return {"username": name, "password": PASSWORD}
        case "POST /auth/tokens":
            user = world.target if role == "anonymous" else world.users[role]
            return {"username": user.username, "password": PASSWORD}
        case "POST /chats" | "PATCH /chats/{chat}":
            return {"name": name}
        case "POST /chats/{chat}/read":
            return {"seq": 1}
        case (
            "POST /chats/{chat}/messages"
            | "POST /direct/{target}/messages"
            | "PATCH /messages/{message}"
        ):
            return {"text": "hello"}
    return None


async def _status(api: Api, endpoint: str, role: str, world: World, name: str) -> int:
    method, _, path = endpoint.partition(" ")
    path = path.format(
        chat=world.chat, message=world.message, target=world.target.id, emoji="%F0%9F%91%8D"
    )
    headers = {} if role == "anonymous" else world.users[role].auth
    response = await api.http.request(
        method,
        "/api/v1" + path,
        json=_body(endpoint, role, world, name),
        headers=headers,
    )
    if response.status_code >= 400:
        # Every refusal carries the JSON error body.
        assert sorted(response.json()["error"]) == ["code", "message"], response.text
    return response.status_code


async def test_every_endpoint_answers_every_kind_of_caller_as_the_table_says(api: Api) -> None:
    names = unique_names("cell")
    wrong: dict[str, str] = {}
    for endpoint, row in EXPECTED.items():
        world = await _world(api, names())
        for role, expected in row.items():
            if endpoint in DESTRUCTIVE:
                world = await _world(api, names())
            status = await _status(api, endpoint, role, world, names())
            if status != expected:
                wrong[f"{endpoint} as {role}"] = f"{status}, expected {expected}"
    assert wrong == {}


def test_the_table_covers_every_v1_route() -> None:
    paths = create_app(Settings(database_url="sqlite:///unused.db")).openapi()["paths"]
    routes = {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, operations in paths.items()
        if path.startswith("/api/v1/")
        for method in operations
    }
    tabled = {endpoint.partition("?")[0] for endpoint in EXPECTED}
    placeholders = {"{chat}": "{chat_id}", "{message}": "{message_id}", "{target}": "{user_id}"}
    for short, long in placeholders.items():
        tabled = {e.replace(short, long) for e in tabled}
    assert routes == tabled
