"""Rate limits: in-process moving windows (the `limits` library), answered with 429.

Every limited response carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds
until the window frees a request); a 429 also carries Retry-After. The storage is in-process
for now; `limits` offers Redis storage for limits shared across instances.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from chatd.api.errors import TooManyRequests
from chatd.config import Settings

BUCKETS = ("sends", "logins", "login_failures", "registrations", "chat_creations", "avito")


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {}
        for bucket in BUCKETS:
            rate: str = getattr(settings, f"rate_limit_{bucket}")
            if rate:
                self._items[bucket] = parse(rate)

    def enabled(self, bucket: str) -> bool:
        return bucket in self._items

    async def hit(self, request: Request, bucket: str, key: str) -> None:
        """Counts one request against `key`'s window; raises TooManyRequests when it is full.
        The headers for the response are left on request.state.rate_limit_headers."""
        item = self._items.get(bucket)
        if item is None:
            return
        allowed = await self._limiter.hit(item, bucket, key)
        headers = await self._headers(item, bucket, key)
        if not allowed:
            headers["Retry-After"] = headers["RateLimit-Reset"]
            raise TooManyRequests(
                f"too many requests ({item.amount} per {item.multiples} {item.GRANULARITY.name})"
                f": retry in {headers['Retry-After']} s",
                headers=headers,
            )
        request.state.rate_limit_headers = headers

    async def check(self, bucket: str, key: str) -> None:
        """Raises TooManyRequests if `key`'s window is full, without counting a request."""
        item = self._items.get(bucket)
        if item is not None and not await self._limiter.test(item, bucket, key):
            headers = await self._headers(item, bucket, key)
            headers["Retry-After"] = headers["RateLimit-Reset"]
            raise TooManyRequests(
                f"too many failed logins for this username: retry in {headers['Retry-After']} s",
                headers=headers,
            )

    async def count(self, bucket: str, key: str) -> None:
        """Counts one event (a failed login) against `key`'s window."""
        item = self._items.get(bucket)
        if item is not None:
            await self._limiter.hit(item, bucket, key)

    async def _headers(self, item: RateLimitItem, bucket: str, key: str) -> dict[str, str]:
        stats = await self._limiter.get_window_stats(item, bucket, key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(stats.remaining),
            "RateLimit-Reset": str(reset),
        }


def limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def add_headers(request: Request, response: Response) -> Response:
    headers: Mapping[str, str] | None = getattr(request.state, "rate_limit_headers", None)
    if headers:
        response.headers.update(headers)
    return response
