"""The access log and the request id: one line per HTTP request on the `chatd.access` logger.

    POST /messages/add 201 1.84ms request_id=9f0c6b0e4a8d4c1f8d0f5b3e2a7c6d10
    GET /api/v1/chats/{chat_id} 200 0.97ms request_id=client-chosen-id-17

The method; the route's template where FastAPI matched a route (one line shape per route, not
one per chat), else the path without its query string (the Avito fast path's five routes, an
unknown path); the status (`-` when the client left before any answer); the time to the last
byte of the answer; and the request id. Never a header, a query or a body: those carry tokens
and passwords. With CHATD_LOG_FORMAT=json (chatd/logs.py) the same fields are the line's
`method`, `route`, `status`, `duration_ms` and `request_id`.

Every HTTP response carries `X-Request-ID`: the client's own, when it sent a sane one (printable
ASCII without spaces, at most REQUEST_ID_MAX characters: it is written into the log as is),
else one made here. The log level decides only whether the line is written (CHATD_LOG_LEVEL):
above INFO the header is still set. WebSockets get neither: a stream lives for hours, and its
sockets go to the stream endpoint without a frame of ours (api/v1/stream.py says why that
matters).
"""

from __future__ import annotations

import logging
import os
import re
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatd.api.routes import RouteTemplates
from chatd.logs import FIELDS

log = logging.getLogger("chatd.access")

HEADER = b"x-request-id"
REQUEST_ID_MAX = 128
_SANE = re.compile(rb"[!-~]{1,%d}" % REQUEST_ID_MAX)  # printable ASCII, no space


def request_id(scope: Scope) -> str:
    """The client's X-Request-ID if it is sane, else a new one (32 hex digits)."""
    for name, value in scope["headers"]:
        if name == HEADER:
            if _SANE.fullmatch(value):
                sane: str = value.decode("ascii")
                return sane
            break  # a forged line or a flood of bytes: replaced, not logged
    # 128 random bits, as hex: uuid4().hex's shape at a fifth of its cost (0.3 against 1.6 µs).
    return os.urandom(16).hex()


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.templates: RouteTemplates | None = None  # of the app's routes: at the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        header = (HEADER, rid.encode("ascii"))
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: a response object's own headers may be sent again.
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status is None:
                status = 500  # what the server's outermost error handler answers
            raise
        finally:
            if log.isEnabledFor(logging.INFO):
                templates = self.templates
                if templates is None:
                    templates = self.templates = RouteTemplates(scope["app"].routes)
                # No route, or a Mount (the web client's files): the path, escaped where it is
                # not printable (a percent-encoded line break must not forge a line).
                path: str = scope["path"]
                route = templates.of(scope) or (path if path.isprintable() else ascii(path)[1:-1])
                _log_line(scope["method"], route, status, (perf_counter() - started) * 1000, rid)


def _log_line(method: str, route: str, status: int | None, milliseconds: float, rid: str) -> None:
    fields = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(milliseconds, 2),
        "request_id": rid,
    }
    log.info(
        "%s %s %s %.2fms request_id=%s",
        method,
        route,
        "-" if status is None else status,
        milliseconds,
        rid,
        extra={FIELDS: fields},
    )
