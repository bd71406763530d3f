"""GET /metrics (Prometheus' text format), and the middleware that counts and times requests.

Who may read it is CHATD_METRICS: `off` (the default: the path is unknown, and nothing is
counted per request), `token` (`Authorization: Bearer <CHATD_METRICS_TOKEN>`, as Prometheus'
`authorization` scrape setting sends it) or `open` (anyone who reaches the port: for a private
network). docs/decisions.md says why.

Requests are labelled by the route's template (`/api/v1/chats/{chat_id}`), never the raw path:
each distinct label set is a series kept for ever, and a scanner trying ten thousand paths must
not make ten thousand. Paths no route matches share one label, `unmatched`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Collection
from time import perf_counter
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatd import metrics
from chatd.api.auth import bearer_token
from chatd.api.routes import RouteTemplates
from chatd.config import Settings
from chatd.core.errors import Unauthenticated

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

PATH = "/metrics"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter()


@router.get(PATH, include_in_schema=False)
def metrics_text(request: Request) -> Response:
    # A plain function: FastAPI runs it on a thread, and reading the workers' files (several
    # processes) does not hold up the event loop.
    settings: Settings = request.app.state.settings
    if settings.metrics == "token":
        _check_token(request, settings.metrics_token)
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(metrics.registry()), media_type=CONTENT_TYPE_LATEST)


def _check_token(request: Request, expected: str) -> None:
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise Unauthenticated("the metrics need their token: send 'Authorization: Bearer <token>'")
    # Constant time: how much of a guess matched must not show in the reply's timing.
    if not hmac.compare_digest(token.encode("latin-1", "replace"), expected.encode()):
        raise Unauthenticated("wrong metrics token")


class RequestMetrics:
    """Counts every HTTP request by route template, method and status, and times it."""

    def __init__(self, app: ASGIApp, fast_paths: Collection[str] = ()) -> None:
        self.app = app
        # The Avito fast path (api/fastpath.py) answers before any routing: its paths are their
        # own templates.
        self.fast_paths = frozenset(fast_paths)
        # The labelled children, looked up once: `labels()` costs more than the count itself.
        self._counters: dict[tuple[str, str, str], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}
        self._known: RouteTemplates | None = None

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: a WebSocket goes on with no frame of ours (api/v1/stream.py).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._measured(scope, receive, send)

    async def _measured(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = "-"  # the client left before any answer, as in the access log

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        except Exception:
            if status == "-":
                status = "500"  # what the server's outermost error handler answers
            raise
        finally:
            self._record(scope, status, perf_counter() - started)

    def _record(self, scope: Scope, status: str, seconds: float) -> None:
        route = self._template(scope)
        method = scope["method"] if scope["method"] in METHODS else "other"
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = metrics.instruments().http_requests.labels(route, method, status)
            self._counters[route, method, status] = counter
        counter.inc()
        timer = self._timers.get((route, method))
        if timer is None:
            timer = metrics.instruments().http_duration.labels(route, method)
            self._timers[route, method] = timer
        timer.observe(seconds)

    def _template(self, scope: Scope) -> str:
        path: str = scope["path"]
        if path in self.fast_paths:
            return path
        route = scope.get("route")  # set by the router that matched, in this very scope
        if isinstance(route, Mount):
            return f"{route.path}/{{path}}"
        if self._known is None:
            self._known = RouteTemplates(scope["app"].routes)
        return self._known.of(scope) or UNMATCHED
