"""GET /api/v1/ws: the user's stream of changes over a WebSocket (the protocol is in README).

    client                                   server
    connect (Authorization: Bearer, ?pos=N)  ready {"pos", "user"} at once
    or connect, then {"type": "auth",        ready {"pos", "user"}
       "token": "...", "pos": N}
                                             {"type": "message.created", "pos": 18, ...}, ...
    {"type": "ping"}                         {"type": "pong"}
    {"type": "typing", "chat": C}            (to C's other members: {"type": "typing", ...})

A token never goes in the URL (URLs land in logs). Close codes are CLOSE_* below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from chatd import metrics
from chatd.api import render
from chatd.api.auth import bearer_token
from chatd.api.bodies import parse
from chatd.api.errors import BadRequest
from chatd.api.v1.frames import AfterReady, Auth, ClientFrame, Typing, position
from chatd.config import Settings
from chatd.core import events, stream
from chatd.core.accounts import Accounts
from chatd.core.errors import Unauthenticated, Unavailable
from chatd.core.events import StreamEvent
from chatd.core.models import Caller
from chatd.core.ports import Store
from chatd.realtime.hub import Hub
from chatd.realtime.session import Session, UserBlocked
from chatd.realtime.typing import TypingLimit

PATH = "/api/v1/ws"
log = logging.getLogger("chatd.realtime")

CLOSE_UNAUTHENTICATED = 4001  # no token, or a bad, expired or revoked one
CLOSE_PROTOCOL = 4002  # a frame that is not JSON or not what the protocol expects here
CLOSE_BLOCKED = 4003  # the user was blocked
CLOSE_AUTH_TIMEOUT = 4008  # no auth frame in time
CLOSE_TOO_SLOW = 4009  # the client did not read its events in time; it can resume
CLOSE_SERVER_ERROR = 1011  # the server could not go on (its database is unreachable): resume

REASON_MAX = 123  # bytes: what a close frame holds

CLOSE_CODES = {
    CLOSE_UNAUTHENTICATED: "unauthenticated",
    CLOSE_PROTOCOL: "protocol_error",
    CLOSE_BLOCKED: "user_blocked",
    CLOSE_AUTH_TIMEOUT: "auth_timeout",
    CLOSE_TOO_SLOW: "too_slow",
}


class Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def event_frame(event: StreamEvent) -> dict[str, Any]:
    """An event as the client receives it (docs/events/*.json has each type's schema)."""
    frame: dict[str, Any] = {"type": event.type, "pos": event.pos}
    if event.type == events.MESSAGE_REACTIONS and event.message is not None:
        message = event.message
        reactions = render.reactions(message.reactions, event.viewer)
        frame["message"] = {"id": message.id, "chat": message.chat, "reactions": reactions}
    elif event.message is not None:
        frame["message"] = render.message_v1(event.message, event.viewer)
    elif event.chat_info is not None:
        frame["chat"] = render.chat_info(event.chat_info)
    elif event.type == events.CHAT_READ:
        frame["chat"] = {"id": event.chat, "last_read_seq": event.seq}
    else:
        frame["chat"] = {"id": event.chat}
    return frame


class _Outbox:
    def __init__(self, websocket: WebSocket, send_timeout: float) -> None:
        self._websocket = websocket
        self._send_timeout = send_timeout

    def encode(self, event: StreamEvent) -> str:
        return render.dumps(event_frame(event)).decode()

    async def frame(self, frame: dict[str, Any]) -> None:
        await self.send(render.dumps(frame).decode())

    async def send(self, text: str) -> None:
        try:
            # The send waits while the client's buffer is full: a bounded wait, then it goes.
            # A timeout scope, not wait_for: on Python 3.11 wait_for wraps every send in a task
            # of its own, which was most of a fan-out's cost (1,000 sends a message).
            async with asyncio.timeout(self._send_timeout):
                await self._websocket.send_text(text)
        except TimeoutError as exc:
            raise Closing(CLOSE_TOO_SLOW, "events were not read in time: resume") from exc

    async def resync(self, pos: int) -> None:
        await self.frame({"type": "resync_required", "pos": pos})


class StreamEndpoint:
    """Serves the stream before FastAPI's routing. A socket lives for hours and its handler's
    frames for as long: through FastAPI's router, dependency solving and exception middleware
    each idle socket kept ~10 KiB more (exit stacks, frames; measured with tracemalloc), and
    every object a socket keeps is one more for each full garbage collection to walk."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            with metrics.websocket_open():
                await changes_stream(WebSocket(scope, receive, send))
        else:
            await self.app(scope, receive, send)


async def changes_stream(websocket: WebSocket) -> None:
    app = websocket.app
    settings: Settings = app.state.settings
    await websocket.accept()
    try:
        caller, requested = await _authenticate(websocket, app.state.accounts, settings)
        outbox = _Outbox(websocket, settings.ws_send_timeout)
        await _stream(websocket, app.state.store, app.state.hub, caller, requested, outbox)
    except Closing as closing:
        with contextlib.suppress(Exception):  # the client may be gone already
            await websocket.close(closing.code, closing.reason)
    except WebSocketDisconnect:
        pass
    except Unavailable:  # its database is away: one line a while, not a traceback a socket
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_SERVER_ERROR, "the server cannot reach its database")


async def _authenticate(
    websocket: WebSocket, accounts: Accounts, settings: Settings
) -> tuple[Caller, int | None]:
    token = bearer_token(websocket.headers.get("authorization", ""))
    if token is not None:
        return await _caller(accounts, token), _pos(websocket.query_params.get("pos"))
    try:
        raw = await asyncio.wait_for(_receive_text(websocket), settings.ws_auth_timeout)
    except TimeoutError as exc:
        raise Closing(CLOSE_AUTH_TIMEOUT, "send an auth frame first") from exc
    auth = _frame(raw, Auth)
    return await _caller(accounts, auth.token), auth.pos


async def _caller(accounts: Accounts, token: str) -> Caller:
    try:
        return await accounts.authenticate(token)
    except Unauthenticated as exc:
        raise Closing(CLOSE_UNAUTHENTICATED, exc.message) from exc


async def _receive_text(websocket: WebSocket) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise Closing(CLOSE_PROTOCOL, "frames are JSON text, not binary")
    return str(text)


F = TypeVar("F", bound=ClientFrame)


def _frame(raw: str, model: type[F]) -> F:
    """The frame read as HTTP bodies are (api/bodies.py), refused with the same message."""
    try:
        return parse(raw, model, subject="frame")
    except BadRequest as exc:
        reason = exc.message.encode()[:REASON_MAX].decode(errors="ignore")
        raise Closing(CLOSE_PROTOCOL, reason) from exc


def _pos(value: str | None) -> int | None:
    try:
        return position(value)
    except ValueError as exc:
        raise Closing(CLOSE_PROTOCOL, f"pos {exc}") from exc


async def _stream(
    websocket: WebSocket,
    store: Store,
    hub: Hub,
    caller: Caller,
    requested: int | None,
    outbox: _Outbox,
) -> None:
    try:
        start = await stream.start_position(store, requested)
    except stream.ResyncRequired as exc:
        await outbox.resync(exc.pos)
        start = exc.pos
    metrics.stream_started(requested, resynced=start != requested)
    chats = await store.user_chat_ids(caller.id)  # before `ready`: what the client may type in
    await outbox.frame({"type": "ready", "pos": start, "user": caller.id})
    session = Session(store, hub, caller.id, caller.is_moderator, start, outbox, chats)
    presence = websocket.app.state.presence
    presence.opened(caller.id)  # realtime/presence.py: online while a stream is open
    # Two tasks a socket: this one listens, the session's sends. When the session ends it
    # closes the socket, which ends the listening here too (uvicorn hands the listener the
    # disconnect at once); when the client goes, the listener ends and stops the session.
    streaming = asyncio.create_task(_follow(session, websocket))
    try:
        await _listen(websocket, outbox, session)
    finally:
        presence.closed(caller.id)
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)


async def _follow(session: Session, websocket: WebSocket) -> None:
    """Runs the session; when it ends, closes the socket with the code that says why."""
    try:
        await session.run()
    except UserBlocked:
        code, reason = CLOSE_BLOCKED, "the user was blocked"
    except Closing as closing:
        code, reason = closing.code, closing.reason
    except WebSocketDisconnect:
        return
    except Unavailable:
        code, reason = CLOSE_SERVER_ERROR, "the server cannot reach its database: resume"
    except Exception:
        log.exception("a stream failed")
        code, reason = CLOSE_SERVER_ERROR, "the server could not read the stream: resume"
    with contextlib.suppress(Exception):  # the client may be gone already
        await websocket.close(code, reason)


async def _listen(websocket: WebSocket, outbox: _Outbox, session: Session) -> None:
    """Reads what the client sends after `ready`, until it disconnects: pings (browsers cannot
    send WebSocket pings) and typing (realtime/typing.py)."""
    typing = websocket.app.state.typing
    limit = TypingLimit()
    while True:
        raw = await _receive_text(websocket)
        if _frame(raw, AfterReady).type == "ping":
            await outbox.frame({"type": "pong"})
        else:
            typing.typed(session.audience, _frame(raw, Typing).chat, limit)
