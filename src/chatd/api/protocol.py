"""HTTP/1.1 as uvicorn's httptools protocol speaks it, plus the two limits uvicorn lacks against
slow and hostile clients (issue 14):

- **Request timeout.** A request must arrive whole, head and body, within `request_timeout`
  seconds of its first byte (a new connection's first request: of the connection opening), or it
  gets 408 and the connection is closed. Each byte does not move the deadline, so a slowloris
  that trickles a byte every few seconds is cut at the same moment as a client that stalls.
- **Head size.** A request line and headers over `max_head_bytes`, or more than MAX_HEADERS
  headers, get 431 and the connection is closed. The bytes are counted before the parser sees
  them, so it never holds more than the limit of one head (httptools would otherwise buffer a
  header value, however long, until its end).

Idle keep-alive connections between requests keep uvicorn's own timeout; once a connection is
upgraded to a WebSocket, neither limit applies.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

# As Apache's LimitRequestFields: far above what browsers and proxies send.
MAX_HEADERS = 100

# Where the connection is in the current request: no byte of it yet, in its head, in its body.
_IDLE, _HEAD, _BODY = 0, 1, 2


class _TooManyHeaders(Exception):
    pass


class LimitedHttpProtocol(HttpToolsProtocol):
    """Made by limited_http_protocol, which sets the two limits."""

    request_timeout: ClassVar[float]
    max_head_bytes: ClassVar[int]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._state = _IDLE
        self._head_room = self.max_head_bytes  # bytes the current head may still take
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte would otherwise be held open forever.
        self._deadline = self.loop.call_later(self.request_timeout, self._on_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes | memoryview) -> None:
        if self._state != _BODY:  # these bytes may be a request head's: count them
            if len(data) > self._head_room:
                self._split_at_head_room(data)
                return
            self._head_room -= len(data)
        # uvicorn's data_received, with the 431 of on_headers_complete.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _TooManyHeaders):
                self._refuse(431, self._too_many_headers)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        # Armed only for a request still incomplete after a read: most requests arrive in one
        # read and never cost a timer. The deadline still counts from their first byte, which
        # came in this read or, if a timer is already armed, earlier.
        if self._deadline is None and self._state != _IDLE and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.request_timeout, self._on_deadline)

    def _split_at_head_room(self, data: bytes | memoryview) -> None:
        # The head may end inside this read, or be over the limit: let the parser have only what
        # is left of the limit, and see whether the head ended within it. (A pipelined head that
        # begins inside a read is counted from the next read: at most one read more.)
        room = self._head_room
        view = memoryview(data)
        if room:
            self.data_received(view[:room])
            if self.transport.is_closing() or self.parser.should_upgrade():
                return
        if self._state != _BODY and self._head_room == 0:  # still the same head
            self._refuse(431, self._head_too_large)
            return
        self.data_received(view[room:])  # a body, or a next request's head with room again

    def on_message_begin(self) -> None:
        self._state = _HEAD
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        # Once a request, not once a header: the byte limit already bounds how many there are.
        if len(self.headers) > MAX_HEADERS:
            raise _TooManyHeaders
        self._state = _BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        self._state = _IDLE
        self._head_room = self.max_head_bytes
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_deadline()
        super().handle_websocket_upgrade()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._state == _IDLE:  # a new connection that sent nothing: nothing to answer
            self.transport.close()
        elif self.pipeline or (
            self._state == _HEAD and self.cycle is not None and not self.cycle.response_complete
        ):
            # Pipelined behind a response still being made: the server is the slow one.
            self._deadline = self.loop.call_later(self.request_timeout, self._on_deadline)
        else:
            self._refuse(408, self._timed_out)

    def _refuse(self, status: int, body: bytes) -> None:
        """Answer `status` with `body` and close, unless an answer is already on its way."""
        cycle = self.cycle
        if self._state == _BODY:
            quiet = not cycle.response_started
            cycle.disconnected = True  # the app waiting for this body must not answer after us
        else:
            quiet = cycle is None or cycle.response_complete
        if quiet:
            head = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head.append(
                b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
                % len(body)
            )
            self.transport.write(b"".join(head) + body)
        self.transport.close()

    @property
    def _timed_out(self) -> bytes:
        return _error_body(
            "request_timeout",
            f"the request did not arrive whole within {self.request_timeout:g} seconds",
        )

    @property
    def _head_too_large(self) -> bytes:
        return _error_body(
            "request_header_fields_too_large",
            f"the request line and headers exceed {self.max_head_bytes} bytes",
        )

    @property
    def _too_many_headers(self) -> bytes:
        return _error_body(
            "request_header_fields_too_large", f"the request has over {MAX_HEADERS} headers"
        )


def _error_body(code: str, message: str) -> bytes:
    # The shape of api/errors.py, written here because no ASGI app runs for these answers.
    return orjson.dumps({"error": {"code": code, "message": message}})


def limited_http_protocol(request_timeout: float, max_head_bytes: int) -> type[LimitedHttpProtocol]:
    """The class to give uvicorn as `http=`: uvicorn makes one per connection, so the limits
    ride on a subclass."""

    class Configured(LimitedHttpProtocol):
        pass

    Configured.request_timeout = request_timeout
    Configured.max_head_bytes = max_head_bytes
    return Configured
