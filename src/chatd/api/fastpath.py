"""The Avito API's five routes, dispatched without FastAPI's per-request machinery.

The Avito methods are chatd's hot path: thousands of small POSTs a second. Profiled under load
(docs/benchmarks.md), FastAPI's routing, request wrappers, dependency solving and response
plumbing cost about twice the route itself. This ASGI middleware answers exactly those five
POSTs by calling the same route functions (api/avito.py) with a plain Starlette Request, and
maps core errors through the same table (api/errors.py); everything else, including every other
method on those paths, goes on to FastAPI. The routes stay registered with FastAPI, so
/openapi.json and /docs describe them as before; the API suite runs through this path.

A route's rate limit (api/ratelimit.py) is applied as declared; while CHATD_RATE_LIMIT_AVITO is
empty, the routes are called without it, so that a limiter the app does not have costs nothing.

It is also where the Avito API's key is checked (CHATD_AVITO_API=key): every request on those
paths, whatever its method, passes here before FastAPI's routes, so this one check covers both.
(With CHATD_AVITO_API=off, app.py mounts neither this nor the routes: the paths are unknown.)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chatd.api import avito
from chatd.api.auth import bearer_token
from chatd.api.errors import response_to
from chatd.api.ratelimit import RateLimits
from chatd.core.errors import ChatdError, Unauthenticated

Route = Callable[..., Awaitable[Response]]  # called with request= (api/ratelimit.py: limited)

ROUTES: dict[str, Route] = {
    "/users/add": avito.users_add,
    "/chats/add": avito.chats_add,
    "/messages/add": avito.messages_add,
    "/chats/get": avito.chats_get,
    "/messages/get": avito.messages_get,
}


class AvitoFastPath:
    def __init__(self, app: ASGIApp, key: str = "") -> None:
        self.app = app
        self.key = key.encode() if key else None  # None: the API is open
        self.routes: dict[str, Route] | None = None  # as the app runs them: on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routes = self.routes
        if routes is None:
            limits: RateLimits = scope["app"].state.rate_limits
            routes = self.routes = {path: limits.applied(r) for path, r in ROUTES.items()}
        route = routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if self.key is not None:
            refusal = self._refusal(scope, self.key)
            if refusal is not None:
                await response_to(refusal)(scope, receive, send)
                return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            response = await route(request=Request(scope, receive, send))
        except ChatdError as exc:
            response = response_to(exc)
        await response(scope, receive, send)

    @staticmethod
    def _refusal(scope: Scope, key: bytes) -> Unauthenticated | None:
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = bearer_token(value.decode("latin-1"))
                break
        if token is None:
            return Unauthenticated(
                "the Avito API needs its key: send 'Authorization: Bearer <key>'"
            )
        # Constant time: how much of a guess matched must not show in the reply's timing.
        if not hmac.compare_digest(token.encode("latin-1"), key):
            return Unauthenticated("wrong Avito API key")
        return None
