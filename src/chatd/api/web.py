"""The web client (src/chatd/web/static): served at / by the same process, from the package.

Plain files, no build step: nothing to install or run beside `chatd serve`, and the browser
gets exactly what the repository holds (docs/decisions.md, "The web client"). Every response
of the client carries a Content-Security-Policy that allows only its own scripts and styles
(none inline) and no framing, so even a message that slipped past textContent could not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parents[1] / "web" / "static"
POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # the API and, in CSP 3, the WebSocket on the same host and port
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Guarded:
    """Adds HEADERS to every response of the wrapped app, and makes the browser revalidate
    (ETag) before using a cached file: an old main.js must not run under a new index.html."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {**HEADERS, "Cache-Control": "no-cache"}
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, guarded)


def serve_client(app: FastAPI) -> None:
    app.mount("/app", _Guarded(StaticFiles(directory=STATIC)), name="web-client")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        # Always revalidated: a new release's page must not run against an old cached script.
        headers = {**HEADERS, "Cache-Control": "no-cache"}
        return FileResponse(STATIC / "index.html", headers=headers, media_type="text/html")
