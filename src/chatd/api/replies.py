"""How a v1 write route replies, declared once on the route rather than pasted into it.

    @router.post("/chats/{chat_id}/messages", status_code=201, ...)
    @replies(201, render.message_v1)
    async def send(...) -> Message:
        return await messages.send(...)

The route returns the core's result; `replies` renders it, and, when the request carries an
Idempotency-Key, hands the renderer to the pending receipt so that the store renders the reply
inside the write's transaction and records it with the key (core/idempotency.py). The reply
sent is then exactly the one recorded. A rate limit is declared beside it (api/ratelimit.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Response

from chatd.api.render import dumps
from chatd.core.idempotency import Receipt, Reply

Endpoint = Callable[..., Awaitable[Any]]


def replies(
    status: int, render: Callable[..., Any] | None = None, *, for_caller: bool = False
) -> Callable[[Endpoint], Endpoint]:
    """Replies `status` with `render(result)` as JSON, or with no body when `render` is None;
    `render(result, caller_id)` when the result shows differently to each user (`for_caller`:
    a message says whether it mentions the caller). The route takes `receipt: ReceiptDep` and
    passes it to its use case."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)  # FastAPI reads the endpoint's own signature through this
        async def route(*args: Any, **kwargs: Any) -> Response:
            viewer = (kwargs["caller"].id,) if for_caller else ()

            def reply_of(result: Any) -> Reply:
                return status, b"" if render is None else dumps(render(result, *viewer))

            receipt: Receipt | None = kwargs["receipt"]
            if receipt is not None:
                receipt.render = reply_of
            result = await endpoint(*args, **kwargs)
            code, body = receipt.reply if receipt and receipt.reply else reply_of(result)
            media_type = "application/json" if body else None
            return Response(body, code, media_type=media_type)

        return route

    return decorate
