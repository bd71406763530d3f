"""Which route answered a request, as its template (`/api/v1/chats/{chat_id}`), never the path.

The access log (api/access_log.py) and the metrics (api/metrics.py) both label a request by it:
one line shape and one series per route, not one per chat. They differ only in what they say
when no route answered, or a Mount did (the log prints the path, the metrics one shared label
per Mount), so that is left to them: `RouteTemplates.of` answers None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Scope


class RouteTemplates:
    """The full template of each of an app's routes, prefixes included: FastAPI puts the route
    it matched in the scope (`scope["route"]`) as its router declared it, without the prefix of
    the router that includes it (`/chats/{chat_id}` for `/api/v1/chats/{chat_id}`)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        contexts = [c for c in iter_route_contexts(routes) if isinstance(c.route, Route)]
        self._by_route = {id(c.route): str(c.path_format) for c in contexts}
        self._patterns: list[tuple[re.Pattern[str], str, frozenset[str]]] = [
            (c.path_regex, str(c.path_format), frozenset(c.methods or ())) for c in contexts
        ]

    def of(self, scope: Scope) -> str | None:
        """The template of the route that answered; None when no route did, or a Mount (the web
        client's files, the docs' assets)."""
        route = scope.get("route")
        if isinstance(route, Mount):
            return None
        if route is not None:
            return self._by_route.get(id(route))
        # Answered before routing (an idempotent replay, a refused key) or routed on a copy of
        # the scope (api/methods.py answers HEAD as a GET): the path is matched again.
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path: str = scope["path"]
        for regex, template, methods in self._patterns:
            if method in methods and regex.match(path):
                return template
        return None
