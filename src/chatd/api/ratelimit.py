"""Rate limits: in-process moving windows (the `limits` library), answered with 429.

A route declares its limit once, for FastAPI and the Avito fast path alike:

    @router.post("/chats/{chat_id}/messages", ...)
    @limited("sends", by=caller_id)
    async def send(...)

Every limited response, success or 429, carries RateLimit-Limit, RateLimit-Remaining and
RateLimit-Reset (seconds until the window frees a request); a 429 also carries Retry-After. A
bucket with no rate set (CHATD_RATE_LIMIT_AVITO is empty by default) costs its routes nothing
on the fast path, which calls them undecorated (`RateLimits.applied`).

Where the windows are counted: in Redis when the broker is Redis (CHATD_BROKER_URL=redis://...),
so that every process and replica of a deployment counts one budget per key; otherwise in each
process (with N processes a key may get up to N times its rate). When Redis fails or hangs, a
request is never refused nor failed for it: that process counts in its own windows, says so
in one warning, and tries Redis again after SHARED_RETRY seconds.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis.asyncio
import redis.exceptions
from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from chatd.api.auth import caller_of
from chatd.api.errors import TooManyRequests
from chatd.config import Settings

log = logging.getLogger("chatd.ratelimit")

BUCKETS = ("sends", "logins", "login_failures", "registrations", "chat_creations", "avito")
# A local Redis answers in well under a millisecond: a command this late means a hung server,
# and the request goes on counted in this process rather than wait for it.
SHARED_TIMEOUT = 0.5  # seconds
SHARED_RETRY = 5.0  # seconds between tries of a Redis that failed
_SHARED_FAULTS = (StorageError, redis.exceptions.RedisError, OSError)
T = TypeVar("T")


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {}
        for bucket in BUCKETS:
            rate: str = getattr(settings, f"rate_limit_{bucket}")
            if rate:
                self._items[bucket] = parse(rate)
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if settings.broker_url.partition(":")[0] in ("redis", "rediss") and self._items:
            # Connections are made at the first use, on the server's event loop.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                settings.broker_url,
                socket_timeout=SHARED_TIMEOUT,
                socket_connect_timeout=SHARED_TIMEOUT,
            )
            storage = RedisStorage(
                "async+" + settings.broker_url,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix="chatd-limits",
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._shared_failed_at: float | None = None  # while Redis is failing

    @property
    def shared(self) -> bool:
        """Whether the windows are counted in Redis (when it answers)."""
        return self._shared is not None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def _counted(self, count: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        """`count` run on the shared windows, or on this process's own while Redis fails."""
        shared, failed_at = self._shared, self._shared_failed_at
        now = time.monotonic()
        if shared is not None and (failed_at is None or now - failed_at >= SHARED_RETRY):
            try:
                result = await count(shared)
            except _SHARED_FAULTS as exc:
                if failed_at is None:
                    log.warning(
                        "rate limits: Redis failed (%s): each process counts its own windows "
                        "until it is back",
                        exc,
                    )
                self._shared_failed_at = now
            else:
                if failed_at is not None:
                    log.warning("rate limits: Redis is back, the windows are shared again")
                    self._shared_failed_at = None
                return result
        return await count(self._local)

    def enabled(self, bucket: str) -> bool:
        return bucket in self._items

    def applied(self, route: R) -> R:
        """The route as this app runs it: without its declared limit when the bucket has none."""
        limit: Limit | None = getattr(route, "limit", None)
        if limit is None or self.enabled(limit.bucket):
            return route
        return cast(R, route.__wrapped__)  # type: ignore[attr-defined]

    async def hit(self, bucket: str, key: str) -> dict[str, str] | None:
        """Counts one request against `key`'s window: the RateLimit-* headers for the reply
        (None when the bucket is unlimited), or TooManyRequests when the window is full."""
        item = self._items.get(bucket)
        if item is None:
            return None

        async def hit(limiter: MovingWindowRateLimiter) -> tuple[bool, dict[str, str]]:
            allowed = await limiter.hit(item, bucket, key)
            return allowed, await _headers(limiter, item, bucket, key)

        allowed, headers = await self._counted(hit)
        if not allowed:
            headers["Retry-After"] = headers["RateLimit-Reset"]
            raise TooManyRequests(
                f"too many requests ({item.amount} per {item.multiples} {item.GRANULARITY.name})"
                f": retry in {headers['Retry-After']} s",
                headers=headers,
            )
        return headers

    async def check(self, bucket: str, key: str) -> None:
        """Raises TooManyRequests if `key`'s window is full, without counting a request."""
        item = self._items.get(bucket)
        if item is None:
            return

        async def test(limiter: MovingWindowRateLimiter) -> dict[str, str] | None:
            if await limiter.test(item, bucket, key):
                return None
            return await _headers(limiter, item, bucket, key)

        headers = await self._counted(test)
        if headers is not None:
            headers["Retry-After"] = headers["RateLimit-Reset"]
            raise TooManyRequests(
                f"too many failed logins for this username: retry in {headers['Retry-After']} s",
                headers=headers,
            )

    async def count(self, bucket: str, key: str) -> None:
        """Counts one event (a failed login) against `key`'s window."""
        item = self._items.get(bucket)
        if item is not None:
            await self._counted(lambda limiter: limiter.hit(item, bucket, key))


async def _headers(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, bucket: str, key: str
) -> dict[str, str]:
    stats = await limiter.get_window_stats(item, bucket, key)
    reset = max(1, math.ceil(stats.reset_time - time.time()))
    return {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(stats.remaining),
        "RateLimit-Reset": str(reset),
    }


def limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


Key = Callable[[Request], Awaitable[str]]
"""Whose window a request counts against."""


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def caller_id(request: Request) -> str:
    # The caller the route's CallerDep resolved (cached on the request): no second look-up.
    return str((await caller_of(request)).id)


@dataclass(frozen=True)
class Limit:
    bucket: str
    key: Key


Route = Callable[..., Awaitable[Response]]
R = TypeVar("R", bound=Route)


def limited(bucket: str, *, by: Key) -> Callable[[R], R]:
    """Counts each request to the route against `bucket` (a CHATD_RATE_LIMIT_* setting), per
    `by`, before the route runs, and puts the RateLimit-* headers on its reply. The route must
    take `request: Request`, and be called with it by name."""

    def decorate(route: R) -> R:
        @functools.wraps(route)  # FastAPI reads the route's own signature through this
        async def limited_route(*args: Any, **kwargs: Any) -> Response:
            request: Request = kwargs["request"]
            limits = limits_of(request)
            if not limits.enabled(bucket):
                return await route(*args, **kwargs)
            headers = await limits.hit(bucket, await by(request))
            response = await route(*args, **kwargs)
            if headers:
                response.headers.update(headers)
            return response

        limited_route.limit = Limit(bucket, by)  # type: ignore[attr-defined]
        return cast(R, limited_route)

    return decorate
