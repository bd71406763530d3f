"""The connections of PostgreSQL's hot reads (the listings): a stack of idle asyncpg connections.

The slots (storage/slots.py) already bound how many statements run at once and queue the rest,
so what is left of a pool is keeping connections for the next read. asyncpg's Pool did that
with a task, a shield and a timeout per return, and a timeout per checkout: ~8 % of chatd's
samples under a listing load (py-spy), as much as the rest of the route. Here a read takes the
most recently used connection (its statement is prepared there), or opens one, and gives it
back if the read ended cleanly; a connection whose read failed or was cancelled midway may be
in any state, and is closed instead.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

IDLE_FOR = 60.0  # seconds: a connection unused this long is closed when the stack is next used


class HotConnections:
    def __init__(self, dsn: str, connect_timeout: float) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._idle: list[tuple[float, asyncpg.Connection]] = []  # (returned at, connection)
        self._generation = 0  # bumped by expire(): older connections are not taken back

    async def fetchval(self, sql: str, args: list[Any]) -> Any:
        """The statement's one value. Call it holding a slot."""
        generation = self._generation
        conn = self._take() or await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            # asyncpg prepares the statement once per connection and keeps it.
            value = await conn.fetchval(sql, *args)
        except BaseException:
            conn.terminate()
            raise
        if generation == self._generation:
            self._idle.append((time.monotonic(), conn))
        else:
            conn.terminate()
        return value

    def _take(self) -> asyncpg.Connection | None:
        idle = self._idle
        while idle:
            returned_at, conn = idle.pop()
            if conn.is_closed():
                continue
            if time.monotonic() - returned_at > IDLE_FOR:
                # The oldest are at the bottom: everything below this one is older still.
                for _at, old in [(returned_at, conn), *idle]:
                    old.terminate()
                idle.clear()
                return None
            return conn
        return None

    def expire(self) -> None:
        """After the database was lost: the idle connections are dropped (without a goodbye: a
        dead or frozen server would not answer one), those in use are when they come back."""
        self._generation += 1
        for _at, conn in self._idle:
            conn.terminate()
        self._idle.clear()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        self._generation += 1
        for _at, conn in idle:
            try:
                await conn.close(timeout=self._connect_timeout)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
