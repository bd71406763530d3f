"""The connection slots (storage/slots.py), without a database."""

from __future__ import annotations

import asyncio

import pytest

from chatd.storage.slots import Slots


async def test_waiters_take_their_turns_in_order() -> None:
    slots = Slots(1, patience=30)
    await slots.acquire()
    served: list[int] = []

    async def wait(n: int) -> None:
        await slots.acquire()
        served.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(5)]
    await asyncio.sleep(0)
    for _ in range(5):
        slots.release()
        await asyncio.sleep(0)
    await asyncio.gather(*waiters)
    assert served == [0, 1, 2, 3, 4]


async def test_no_more_than_size_hold_a_slot_at_once() -> None:
    slots = Slots(3, patience=30)
    holding = most = 0

    async def work() -> None:
        nonlocal holding, most
        await slots.acquire()
        holding += 1
        most = max(most, holding)
        await asyncio.sleep(0.001)
        holding -= 1
        slots.release()

    await asyncio.gather(*(work() for _ in range(50)))
    assert most == 3
    for _ in range(3):  # every slot came back
        await asyncio.wait_for(slots.acquire(), 0.1)


async def test_a_wait_longer_than_the_patience_is_given_up() -> None:
    slots = Slots(1, patience=0.05)
    await slots.acquire()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await slots.acquire()
    assert 0.05 <= loop.time() - started < 1.0
    slots.release()
    await asyncio.wait_for(slots.acquire(), 0.1)  # the slot went to nobody who had left


async def test_a_cancelled_waiter_leaves_the_line_and_loses_no_slot() -> None:
    slots = Slots(1, patience=30)
    await slots.acquire()
    gone = asyncio.create_task(slots.acquire())
    after = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    slots.release()
    await asyncio.wait_for(after, 0.1)  # the next in line got it


async def test_a_waiter_cancelled_as_it_is_served_passes_the_slot_on() -> None:
    slots = Slots(1, patience=30)
    await slots.acquire()
    served = asyncio.create_task(slots.acquire())
    after = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # hands the slot to `served`...
    served.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await served
    await asyncio.wait_for(after, 0.1)
