"""The web client (src/chatd/web/static): served at / by the same process, from the package.

Plain files, no build step: nothing to install or run beside `chatd serve`, and the browser
gets exactly what the repository holds (docs/decisions.md, "The web client"). Every response
of the client carries a Content-Security-Policy that allows only its own scripts and styles
(none inline) and no framing, so even a message that slipped past textContent could not run.

Text files go gzip-compressed to a client that accepts it (the client's 82 KB become 29 KB),
compressed once per version of a file and kept in memory, never per request. The API's responses
are not touched (no GZipMiddleware): they are small and hot, and would pay for compression on
every request (docs/decisions.md, "The web client's files are sent gzip-compressed").
"""

from __future__ import annotations

import gzip
import mimetypes
import os
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
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


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 §12.5.3): named with a q above 0,
    or `*` with a q above 0 while gzip is not named."""
    star = False
    for item in accept_encoding.split(","):
        coding, *params = (part.strip().lower() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding in ("gzip", "x-gzip"):
            return weight > 0
        if coding == "*":
            star = weight > 0
    return star


def _compressible(path: str) -> bool:
    kind = mimetypes.guess_type(path)[0] or ""
    return kind.startswith("text/") or kind in (
        "application/javascript",
        "application/json",
        "image/svg+xml",
    )


class ClientFiles(StaticFiles):
    """StaticFiles that sends a text file gzip-compressed when the client accepts gzip, with
    `Vary: Accept-Encoding`, its own ETag and Content-Length.

    Each version of a file (path, mtime, size) is compressed once, in the worker thread where
    StaticFiles already looks files up, and kept: the client is a handful of files, and an edited
    file replaces its entry. A request with a Range asks for bytes of the file as stored: it is
    answered uncompressed, as before."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        # full path -> ((mtime_ns, size), the gzip bytes, or None where gzip would not be smaller)
        self._gzipped: dict[str, tuple[tuple[int, int], bytes | None]] = {}

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        full_path, stat_result = super().lookup_path(path)
        if stat_result is not None and _compressible(full_path):
            version = (stat_result.st_mtime_ns, stat_result.st_size)
            kept = self._gzipped.get(full_path)
            if kept is None or kept[0] != version:
                self._gzipped[full_path] = (version, _gzip(full_path, stat_result.st_size))
        return full_path, stat_result

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        kept = self._gzipped.get(str(full_path))
        if kept is None:
            return response  # not a text file
        response.headers["vary"] = "Accept-Encoding"
        request_headers = Headers(scope=scope)
        version, body = kept
        if (
            body is None
            or version != (stat_result.st_mtime_ns, stat_result.st_size)
            or "range" in request_headers
            or not accepts_gzip(request_headers.get("accept-encoding", ""))
        ):
            return response
        headers = {key: value for key, value in response.headers.items() if key != "accept-ranges"}
        # Another representation: another strong ETag, so a cache never mixes the two.
        headers["etag"] = headers["etag"].removesuffix('"') + '-gzip"'
        headers["content-encoding"] = "gzip"
        headers["content-length"] = str(len(body))
        if self.is_not_modified(Headers(headers), request_headers):
            return NotModifiedResponse(Headers(headers))
        return Response(body, status_code, headers)


def _gzip(path: str, size: int) -> bytes | None:
    with open(path, "rb") as file:
        data = file.read()
    # mtime=0: the same file always compresses to the same bytes, as its strong ETag promises.
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    return packed if len(packed) < size else None


def serve_client(app: FastAPI) -> None:
    files = ClientFiles(STATIC)
    app.mount("/app", _Guarded(files), name="web-client")

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        response = await files.get_response("index.html", request.scope)
        # Always revalidated: a new release's page must not run against an old cached script.
        response.headers.update({**HEADERS, "Cache-Control": "no-cache"})
        return response
