"""Signals (realtime/ephemeral.py): each broker carries a small JSON object under a topic to the
instances subscribed to it, this one included, next to the hints and never mistaken for one; a
broker that is down drops them, and nothing raises into whoever offered one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from chatd.realtime.broker import SIGNAL_MAX_BYTES, Broker, MemoryBroker
from chatd.realtime.ephemeral import Signals
from chatd.realtime.pgbroker import PostgresBroker
from chatd.realtime.redisbroker import RedisBroker
from tests.pgcluster import PgCluster, free_port
from tests.realtime.test_brokers import until
from tests.redisserver import RedisServer


class Ear:
    def __init__(self) -> None:
        self.hints: list[tuple[str, int]] = []
        self.signals: list[tuple[str, str]] = []

    def notify(self, topic: str, pos: int) -> None:
        self.hints.append((topic, pos))

    def signalled(self, topic: str, payload: str) -> None:
        self.signals.append((topic, payload))


@contextlib.asynccontextmanager
async def started(*brokers: Broker) -> AsyncIterator[list[Ear]]:
    ears = [Ear() for _ in brokers]
    for broker, ear in zip(brokers, ears, strict=True):
        await broker.start(ear.notify, lambda: None, ear.signalled)
    try:
        await until(lambda: all(broker.connected for broker in brokers), 10)
        yield ears
    finally:
        for broker in brokers:
            await broker.close()


async def carries_signals(make: Callable[[], Broker], across: bool) -> None:
    """Two brokers (two instances when `across`, else one shared by both ends)."""
    one = make()
    two = make() if across else one
    async with started(*([one, two] if across else [one])) as ears:
        ear1, ear2 = (ears[0], ears[-1])
        await one.subscribe(["c1"])
        await two.subscribe(["c1", "c2"])
        big = '{"type":"presence","pad":"' + "é" * 3000 + '"}'  # 6000+ bytes: fits NOTIFY
        await one.signal(["c1", "c3"], '{"type":"typing","chat":1,"user":7}')
        await one.publish(["c1"], 5)
        await two.signal(["c2"], big)
        await until(lambda: len(ear2.signals) >= 2 and (ear2.hints or not across), 2)
        await asyncio.sleep(0.1)  # time for anything that should not come
        expected2 = [("c1", '{"type":"typing","chat":1,"user":7}'), ("c2", big)]
        assert sorted(ear2.signals) == sorted(expected2)
        assert ("c1", 5) in ear2.hints  # a hint stays a hint, on the same channel
        if across:  # the sender's own instance hears its signal too; not c2's, not subscribed
            assert ear1.signals == [("c1", '{"type":"typing","chat":1,"user":7}')]
        with pytest.raises(ValueError, match="a signal is a JSON object"):
            await one.signal(["c1"], '{"x":"' + "a" * SIGNAL_MAX_BYTES + '"}')
        with pytest.raises(ValueError, match="a signal is a JSON object"):
            await one.signal(["c1"], "12")  # would read as a hint


async def test_memory_broker_carries_signals() -> None:
    await carries_signals(MemoryBroker, across=False)


async def test_postgres_broker_carries_signals_between_instances(pg_cluster: PgCluster) -> None:
    await carries_signals(lambda: PostgresBroker("postgres://", pg_cluster.url()), across=True)


async def test_redis_broker_carries_signals_between_instances(redis_server: RedisServer) -> None:
    await carries_signals(lambda: RedisBroker(redis_server.url), across=True)


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_a_broker_that_is_down_drops_signals_and_nothing_raises(kind: str) -> None:
    port = free_port()
    broker: Broker = (
        PostgresBroker("postgres://", f"postgresql://postgres@127.0.0.1:{port}/none")
        if kind == "postgres"
        else RedisBroker(f"redis://127.0.0.1:{port}/0")
    )
    ear = Ear()
    await broker.start(ear.notify, lambda: None, ear.signalled)
    signals = Signals(broker)
    signals.start()
    try:
        for _ in range(3):
            signals.offer(["c1"], '{"type":"typing","chat":1,"user":2}')  # never raises
        await asyncio.sleep(0.2)
        assert (signals.sent, signals.dropped) == (0, 3)
    finally:
        await signals.close()
        await broker.close()


async def test_signals_sent_while_connected_are_counted_and_heard() -> None:
    broker = MemoryBroker()
    async with started(broker) as [ear]:
        await broker.subscribe(["c1"])
        signals = Signals(broker)
        signals.start()
        try:
            signals.offer(["c1"], '{"type":"typing","chat":1,"user":2}')
            await until(lambda: bool(ear.signals), 1)
            assert signals.sent == 1
        finally:
            await signals.close()
