"""The network brokers outlive their server's faults (realtime/backoff.py): a real PostgreSQL
restarted, a real redis-server killed, paused (SIGSTOP) or started late. Each broker reconnects
by itself, subscribes again what its hub wants (topics subscribed during the outage too), says
so through `reconnected`, and logs one line when the outage starts and one when it ends; while
down, nothing it does waits on the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chatd.realtime.broker import ALL, Broker, BrokerUnavailable
from chatd.realtime.pgbroker import PostgresBroker
from chatd.realtime.redisbroker import RedisBroker, redacted
from tests.pgcluster import PgCluster, free_port
from tests.redisserver import RedisServer

AT_ONCE = 0.25  # seconds: nothing waited on the server (with room for a busy test machine)


class Ear:
    """What one broker heard, and how often it said it reconnected."""

    def __init__(self) -> None:
        self.hints: set[tuple[str, int]] = set()
        self.reconnections = 0

    def notify(self, topic: str, pos: int) -> None:
        self.hints.add((topic, pos))

    def reconnected(self) -> None:
        self.reconnections += 1


async def until(condition: Callable[[], bool], within: float) -> float:
    """Seconds until the condition held; fails after `within`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"not within {within} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def took(operation: Awaitable[None]) -> float:
    started = time.monotonic()
    await operation
    return time.monotonic() - started


async def refused(broker: Broker, pos: int) -> float:
    """Seconds until the broker refused a publish."""
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.publish(["c1"], pos)
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def running(*brokers: Broker) -> AsyncIterator[list[Ear]]:
    ears = [Ear() for _ in brokers]
    for broker, ear in zip(brokers, ears, strict=True):
        assert await took(broker.start(ear.notify, ear.reconnected)) < AT_ONCE
    try:
        await until(lambda: all(broker.connected for broker in brokers), 10)
        yield ears
    finally:
        for broker in brokers:
            assert await took(broker.close()) < 2.5


# An outage's first line, and the line that ends it (a clean first connection is neither).
OUTAGE = re.compile(r"broker \S+ (?:(lost|unreachable) \(|(reconnected|connected);)")


def logged(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    """How many outage starts and ends were logged; fails on any traceback."""
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    lines = Counter[str]()
    for record in caplog.records:
        found = OUTAGE.match(record.getMessage())
        if record.name == "chatd.realtime" and found:
            lines[found[1] or found[2]] += 1
    return lines


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="chatd.realtime")
    return caplog


async def test_postgres_brokers_come_back_by_themselves_after_a_restart(
    info_logs: pytest.LogCaptureFixture,
) -> None:
    cluster = await asyncio.to_thread(PgCluster().start)  # its own: this test restarts it
    try:
        one, two = (PostgresBroker("postgres://", cluster.url()) for _ in range(2))
        async with running(one, two) as (ear1, ear2):
            await one.subscribe(["c1"])
            await two.subscribe(["c1", ALL])
            await one.publish(["c1", ALL], 1)
            await until(lambda: {("c1", 1), (ALL, 1)} <= ear2.hints and ("c1", 1) in ear1.hints, 1)

            await asyncio.to_thread(cluster.stop_server)
            await until(lambda: not one.connected and not two.connected, 2)
            assert await refused(one, 2) < AT_ONCE
            assert await took(two.subscribe(["c2"])) < 0.5  # wanted while down

            await asyncio.to_thread(cluster.start_server)
            assert await until(lambda: ear1.reconnections == ear2.reconnections == 1, 10) < 3
            assert one.connected
            assert two.connected
            await one.publish(["c1", "c2"], 3)
            await until(lambda: {("c1", 3), ("c2", 3)} <= ear2.hints and ("c1", 3) in ear1.hints, 1)
        assert logged(info_logs) == {"lost": 2, "reconnected": 2}
    finally:
        await asyncio.to_thread(cluster.stop)


async def test_postgres_broker_started_while_postgres_is_down_waits_on_nothing() -> None:
    broker = PostgresBroker("postgres://", f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    ear = Ear()
    assert await took(broker.start(ear.notify, ear.reconnected)) < AT_ONCE
    try:
        assert not broker.connected
        assert await refused(broker, 1) < AT_ONCE
        assert await took(broker.subscribe(["c1"])) < 0.5
    finally:
        assert await took(broker.close()) < 1


async def test_redis_brokers_come_back_by_themselves_after_a_kill(
    redis_server: RedisServer, info_logs: pytest.LogCaptureFixture
) -> None:
    one, two = RedisBroker(redis_server.url), RedisBroker(redis_server.url)
    async with running(one, two) as (ear1, ear2):
        await one.subscribe(["c1"])
        await two.subscribe(["c1", ALL])
        await one.publish(["c1", ALL], 1)
        await until(lambda: {("c1", 1), (ALL, 1)} <= ear2.hints and ("c1", 1) in ear1.hints, 1)

        redis_server.kill()
        await until(lambda: not one.connected and not two.connected, 2)
        assert await refused(one, 2) < AT_ONCE
        assert await took(two.subscribe(["c2"])) < 0.5  # wanted while down

        redis_server.start()  # on the same port
        assert await until(lambda: ear1.reconnections == ear2.reconnections == 1, 10) < 3
        await one.publish(["c1", "c2"], 3)
        await until(lambda: {("c1", 3), ("c2", 3)} <= ear2.hints and ("c1", 3) in ear1.hints, 1)
    assert logged(info_logs) == {"lost": 2, "reconnected": 2}


async def test_redis_broker_paused_fails_fast_and_recovers_on_resume(
    redis_server: RedisServer, info_logs: pytest.LogCaptureFixture
) -> None:
    one, two, three = (RedisBroker(redis_server.url) for _ in range(3))
    async with running(one, two, three) as (_ear1, ear2, _ear3):
        await two.subscribe(["c1"])
        redis_server.pause()
        try:
            assert await took(three.close()) < 2.5
            assert await refused(one, 1) < 2  # a hung server: the publish is bounded
            assert await took(two.subscribe(["c3"])) < 3
        finally:
            redis_server.resume()
        await until(lambda: one.connected and two.connected, 10)
        await one.publish(["c1", "c3"], 2)
        await until(lambda: {("c1", 2), ("c3", 2)} <= ear2.hints, 1)
    assert logged(info_logs) == {"lost": 2, "reconnected": 2}


async def test_redis_broker_started_while_redis_is_down_connects_by_itself(
    info_logs: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer()  # not started yet
    broker, ear = RedisBroker(server.url), Ear()
    try:
        assert await took(broker.start(ear.notify, ear.reconnected)) < AT_ONCE
        assert not broker.connected
        assert await refused(broker, 1) < AT_ONCE
        assert await took(broker.subscribe(["c1"])) < 0.5

        await asyncio.to_thread(server.start)
        await until(lambda: broker.connected, 5)
        await broker.publish(["c1"], 2)
        await until(lambda: ("c1", 2) in ear.hints, 1)
        # A first connection made late ends a time without one: the hub reads what it missed.
        assert ear.reconnections == 1
    finally:
        await broker.close()
        server.stop()
    assert logged(info_logs) == {"unreachable": 1, "connected": 1}


def test_logged_broker_urls_hide_passwords() -> None:
    assert redacted("redis://:secret@host:6379/0") == "redis://:***@host:6379/0"
    assert redacted("rediss://me:secret@host/1?password=x") == "rediss://me:***@host/1?password=***"
    assert PostgresBroker("postgres://", "postgresql://me:secret@db/chatd").name == (
        "postgresql://me:***@db/chatd"
    )
