"""One idempotency contract for every v1 write, as pure ASGI middleware.

A POST, PUT, PATCH or DELETE under /api/v1 that carries `Idempotency-Key` is run at most once
per (user, key): the first request claims the key; a retry of the same request replays the
stored status and body (with `Idempotent-Replayed: true`); a twin arriving while the first is in
flight gets 409; the key reused for a different request (method, path, query or body) gets 422.
Keys are kept `idempotency_ttl_hours` (24 by default).

The response is stored before it is sent, so a client that saw an answer always gets the same
one again. Server errors (5xx) and rate-limit refusals (429) are not stored: the key is
released and a retry runs anew. What this cannot cover: a server killed after the work
committed but before the response was stored leaves the key in flight; after STALE_AFTER a retry
takes it over and runs again.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatd.api.errors import (
    BadRequest,
    HttpError,
    IdempotencyConflict,
    IdempotencyMismatch,
    error_response,
)
from chatd.core import clock
from chatd.core.accounts import Accounts
from chatd.core.errors import Unauthenticated
from chatd.core.models import Caller
from chatd.core.ports import Store

HEADER = b"idempotency-key"
KEY_MAX = 255
STALE_AFTER = timedelta(seconds=60)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Idempotency:
    def __init__(self, app: ASGIApp, prefix: str = "/api/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _key_of(scope) if _applies(scope, self.prefix) else None
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            await self._once(key.decode("latin-1"), scope, receive, send)
        except HttpError as exc:
            await error_response(exc.status, exc.code, exc.message, exc.headers)(
                scope, receive, send
            )

    async def _once(self, key: str, scope: Scope, receive: Receive, send: Send) -> None:
        if not 1 <= len(key) <= KEY_MAX or not key.isprintable():
            raise BadRequest(
                f"Idempotency-Key must be 1 to {KEY_MAX} printable characters",
                code="invalid_idempotency_key",
            )
        caller = await _caller(scope)
        if caller is None:  # the route answers 401 itself
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        store: Store = scope["app"].state.store
        ttl = timedelta(hours=scope["app"].state.settings.idempotency_ttl_hours)
        now = clock.now()
        fingerprint = _fingerprint(scope, body)
        held = await store.claim_idempotency_key(
            caller.id, key, fingerprint, now, now - ttl, now - STALE_AFTER
        )
        if held is not None:
            if held.fingerprint != fingerprint:
                raise IdempotencyMismatch("this Idempotency-Key was used for a different request")
            if held.status is None:
                raise IdempotencyConflict(
                    "a request with this Idempotency-Key is still in flight: retry later",
                    headers={"Retry-After": "1"},
                )
            await _replay(held.status, held.body or b"", send)
            return
        try:
            status, headers, chunks = await _run(self.app, scope, body)
        except BaseException:
            await store.release_idempotency_key(caller.id, key)
            raise
        if status >= 500 or status == 429:
            await store.release_idempotency_key(caller.id, key)
        else:
            await store.finish_idempotency_key(caller.id, key, status, b"".join(chunks))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"".join(chunks)})


def _applies(scope: Scope, prefix: str) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] in _WRITES
        and str(scope["path"]).startswith(prefix)
    )


def _key_of(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return bytes(value)
    return None


async def _caller(scope: Scope) -> Caller | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            accounts: Accounts = scope["app"].state.accounts
            try:
                caller = await accounts.authenticate(token.strip())
            except Unauthenticated:
                return None
            # The route's caller_of() finds it here and does not look the token up again.
            scope.setdefault("state", {})["caller"] = caller
            return caller
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


async def _run(
    app: ASGIApp, scope: Scope, body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
    sent = False

    async def replay_body() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, replay_body, capture)
    return status, headers, chunks


async def _replay(status: int, body: bytes, send: Send) -> None:
    headers = [(b"idempotent-replayed", b"true"), (b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
