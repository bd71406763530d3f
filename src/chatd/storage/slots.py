"""Connection slots: at most `size` statements of this process in the database at once, the rest
waiting in line, and a wait that lasts too long given up.

An asyncio.Semaphore inside asyncio.timeout() does the same, but pays for a timer per wait (made,
scheduled and cancelled): under a read load where every request waits for a slot, ~7 % of
chatd's samples (py-spy, PostgreSQL listings at 64 connections). Here one sweep a second, run
only while someone waits, gives up every wait older than `patience`.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    def __init__(self, size: int, patience: float) -> None:
        self._free = size
        self._patience = patience
        self._line: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._sweeper: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Takes a slot, in turn. Raises TimeoutError after waiting `patience` seconds."""
        if self._free > 0 and not self._line:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._line.append((loop.time(), turn))
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep())
        try:
            await turn
        except asyncio.CancelledError:
            # Handed a slot in the same loop turn as the cancellation: pass it on.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.release()
            raise

    def release(self) -> None:
        while self._line:
            _since, turn = self._line.popleft()
            if not turn.done():  # a waiter who gave up or was cancelled has left the line
                turn.set_result(None)
                return
        self._free += 1

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._line:
            await asyncio.sleep(min(1.0, self._patience))
            given_up = loop.time() - self._patience
            while self._line and self._line[0][0] <= given_up:
                _since, turn = self._line.popleft()
                if not turn.done():
                    turn.set_exception(TimeoutError())
