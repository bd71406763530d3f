"""Which methods a path answers: every route's, for `Allow`, and HEAD wherever GET is.

Starlette answers a wrong method with the `Allow` of the first route whose path matched, so a
path served by two routes (`GET` and `POST /api/v1/chats`) claimed to allow only one (RFC 9110
§10.2.1: `Allow` lists every method the resource supports). FastAPI's routes do not answer HEAD,
which RFC 9110 §9.3.2 asks of every resource that answers GET.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes: Iterable[BaseRoute], path: str) -> set[str]:
    """Every method some route answers on `path` (HEAD wherever GET is). Asked of each route
    through `matches`, the one question every kind of route (included routers too) answers."""
    methods = {
        method
        for method in METHODS
        if any(route.matches(_probe(path, method))[0] is Match.FULL for route in routes)
    }
    if "GET" in methods:
        methods.add("HEAD")
    return methods


def _probe(path: str, method: str) -> Scope:
    return {"type": "http", "path": path, "method": method, "root_path": ""}


class HeadAsGet:
    """Answers HEAD as the GET of the same path would be answered, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        methods = allowed_methods(scope["app"].routes, scope["path"])
        if "GET" not in methods:
            await self.app(scope, receive, send)  # the 405 lists what the path allows
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                # Content-Length stays the GET's, as RFC 9110 §9.3.2 allows.
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
