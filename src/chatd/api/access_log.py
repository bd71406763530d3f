"""The access log: one line per HTTP request on the `chatd.access` logger, at INFO.

    POST /messages/add 201 1.84ms

The method, the path without its query string, the status (`-` when the client left before
any answer) and the time to the last byte of the answer. Never a header, a query or a body:
those carry tokens and passwords. WebSockets get no line: a stream lives for hours, and its
sockets go to the stream endpoint without a frame of ours (api/v1/stream.py says why that
matters). The log level decides (CHATD_LOG_LEVEL): above INFO, requests pass untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("chatd.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: what it does not log goes on with no frame of ours.
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            return self.app(scope, receive, send)
        return self._logged(scope, receive, send)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: int | str = "-"

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        except Exception:
            if status == "-":
                status = 500  # what the server's outermost error handler answers
            raise
        finally:
            path = scope["path"]
            if not path.isprintable():  # a percent-encoded line break must not forge a line
                path = ascii(path)[1:-1]
            milliseconds = (perf_counter() - started) * 1000
            log.info("%s %s %s %.2fms", scope["method"], path, status, milliseconds)
