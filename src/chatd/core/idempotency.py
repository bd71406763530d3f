"""Idempotent writes: a request's key travels with its write, into the write's transaction.

A v1 write that carries an `Idempotency-Key` must happen at most once, and a retry must get the
answer the first attempt got. Both hold only if the key and the answer are committed together
with the write itself: then a retry finds either the committed answer, or nothing written at all.

    api/idempotency.py  makes the request's receipt (who, which key, which request)
    api/replies.py      tells the receipt how the route renders its result (`render`), and
                        hands it to the use case, which hands it to `store.write`
    the store           runs the write, renders the reply and records the key in ONE
                        transaction, and leaves the reply on the receipt (`reply`)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatd.core.models import UserId

Reply = tuple[int, bytes]  # the status and body first answered, replayed exactly


@dataclass(slots=True)
class Receipt:
    user: UserId
    key: str
    fingerprint: str  # of method, path, query and body: the same key with another request differs
    created_at: datetime
    expired_before: datetime  # a record older than this is forgotten
    render: Callable[[Any], Reply] | None = None
    reply: Reply | None = None  # set once the write and its record have committed

    def wants_record(self) -> bool:
        """True while a write may still take this receipt: the route said how to render its
        result, and no earlier write of the request took it."""
        return self.render is not None and self.reply is None
