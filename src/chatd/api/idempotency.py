"""One idempotency contract for every v1 write, as pure ASGI middleware.

A POST, PUT, PATCH or DELETE under /api/v1 that carries `Idempotency-Key` is run at most once
per (user, key): a retry of the same request replays the stored status and body (with
`Idempotent-Replayed: true`), and the key reused for a different request (method, path, query or
body) gets 422. Keys are kept `idempotency_ttl_hours` (24 by default).

The key and the reply are recorded in the write's own transaction (core/idempotency.py), so a
retry finds either the committed reply or nothing written: no window in which the write has
happened but its key has not. A twin sent while the first is still running runs too; its write
finds the key taken when it commits, is rolled back, and the twin replays the first's reply. A
request that wrote nothing (a 4xx refusal) has its reply recorded on its own afterwards; 5xx and
429 replies are not recorded, so such a request can simply be retried.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatd.api.auth import caller_of
from chatd.api.errors import BadRequest, IdempotencyMismatch, response_to
from chatd.core import clock
from chatd.core.errors import ChatdError, Unauthenticated
from chatd.core.idempotency import Receipt
from chatd.core.models import Caller, IdempotencyRecord
from chatd.core.ports import Store
from chatd.core.writes import do_keep_reply

HEADER = b"idempotency-key"
RECEIPT = "idempotency_receipt"  # the request state's key for the receipt
KEY_MAX = 255
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
        except ChatdError as exc:
            # Its own reads and records too (a database away: 503), through the one table. No
            # reply has started here: the route's was kept whole until the record was kept.
            await response_to(exc)(scope, receive, send)

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
        now = clock.now()
        ttl = timedelta(hours=scope["app"].state.settings.idempotency_ttl_hours)
        receipt = Receipt(caller.id, key, _fingerprint(scope, body), now, now - ttl)
        held = await store.find_idempotency_record(caller.id, key, receipt.expired_before)
        if held is not None:
            await _replay(held, receipt, send)
            return
        # The route takes it from its request's state (ReceiptDep) and hands it to its write.
        scope.setdefault("state", {})[RECEIPT] = receipt
        status, headers, chunks = await _run(self.app, scope, body)
        reply = b"".join(chunks)
        # Nothing was written (a refusal), or a twin's write committed first: record this reply,
        # unless a live record is already there, which is then the answer.
        unrecorded = receipt.reply is None and status < 500 and status != 429
        if unrecorded and not await store.write(None, do_keep_reply, receipt, (status, reply)):
            held = await store.find_idempotency_record(caller.id, key, receipt.expired_before)
            if held is not None:
                await _replay(held, receipt, send)
                return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": reply})


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
    try:
        # Cached on the request's state: the route's caller_of() does not look it up again.
        return await caller_of(Request(scope))
    except Unauthenticated:
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


async def _replay(held: IdempotencyRecord, receipt: Receipt, send: Send) -> None:
    if held.fingerprint != receipt.fingerprint:
        raise IdempotencyMismatch("this Idempotency-Key was used for a different request")
    headers = [
        (b"idempotent-replayed", b"true"),
        (b"content-length", str(len(held.body)).encode()),
    ]
    if held.body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": held.status, "headers": headers})
    await send({"type": "http.response.body", "body": held.body})


def _receipt_of(request: Request) -> Receipt | None:
    found: Receipt | None = getattr(request.state, RECEIPT, None)
    return found


# A write route's receipt, to hand to its use case: None without an Idempotency-Key.
ReceiptDep = Annotated[Receipt | None, Depends(_receipt_of)]
