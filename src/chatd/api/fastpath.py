"""The Avito API's five routes, dispatched without FastAPI's per-request machinery.

The Avito methods are chatd's hot path: thousands of small POSTs a second. Profiled under load
(docs/benchmarks.md), FastAPI's routing, request wrappers, dependency solving and response
plumbing cost about twice the route itself. This ASGI middleware answers exactly those five
POSTs by calling the same route functions (api/avito.py) with a plain Starlette Request, and
maps core errors through the same table (api/errors.py); everything else, including every other
method on those paths, goes on to FastAPI. The routes stay registered with FastAPI, so
/openapi.json and /docs describe them as before; the API suite runs through this path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chatd.api import avito
from chatd.api.errors import response_to
from chatd.core.errors import ChatdError

Route = Callable[[Request], Awaitable[Response]]

ROUTES: dict[str, Route] = {
    "/users/add": avito.users_add,
    "/chats/add": avito.chats_add,
    "/messages/add": avito.messages_add,
    "/chats/get": avito.chats_get,
    "/messages/get": avito.messages_get,
}


class AvitoFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            response = await route(Request(scope, receive, send))
        except ChatdError as exc:
            response = response_to(exc)
        await response(scope, receive, send)
