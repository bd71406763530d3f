"""`python -m bench.brokers`: what each broker costs per event and per connected user.

Per event: a publish from one broker to the listening side of another (two instances), timed
from before `publish` to the listener's callback, with one topic per event (a chat's hint).
Per connected user: subscribing to a user's topics (their own and their chats': 20 here), the
round trips an instance pays when a user connects, and what the broker keeps per topic.
Brokers: memory:// (in process), postgres:// (a throwaway PostgreSQL 15, durable settings),
redis:// (a throwaway redis-server). Each broker is connected before it is measured (`start`
returns at once and connects in the background). Prints a markdown table for docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

from chatd.realtime.broker import Broker, MemoryBroker
from chatd.realtime.pgbroker import PostgresBroker
from chatd.realtime.redisbroker import RedisBroker
from tests.pgcluster import PgCluster
from tests.redisserver import RedisServer

EVENTS = 2000
USERS = 200
TOPICS_PER_USER = 20


async def _measure(name: str, make: Callable[[], Broker]) -> list[str]:
    sender, listener = make(), make()
    heard: dict[int, float] = {}
    arrived = asyncio.Event()

    def notify(_topic: str, pos: int) -> None:
        heard[pos] = time.perf_counter()
        if pos == EVENTS - 1:
            arrived.set()

    await sender.start(lambda _t, _p: None, lambda: None)
    await listener.start(notify, lambda: None)
    await _connected(sender, listener)
    if isinstance(sender, MemoryBroker):
        sender = listener  # one process: the same broker publishes and hears
    await listener.subscribe(["c1"])
    sent: dict[int, float] = {}
    started = time.perf_counter()
    for pos in range(EVENTS):
        sent[pos] = time.perf_counter()
        await sender.publish(["c1"], pos)
    publishing = (time.perf_counter() - started) / EVENTS
    await asyncio.wait_for(arrived.wait(), 30)
    latencies = sorted((heard[p] - sent[p]) * 1e6 for p in sent if p in heard)
    subscribing = time.perf_counter()
    for user in range(USERS):
        await listener.subscribe(
            [f"u{user}", *(f"c{user}-{i}" for i in range(TOPICS_PER_USER - 1))]
        )
    per_user = (time.perf_counter() - subscribing) / USERS
    await sender.close()
    if listener is not sender:
        await listener.close()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return [
        name,
        f"{publishing * 1e6:,.0f} µs",
        f"{statistics.median(latencies):,.0f} µs",
        f"{p99:,.0f} µs",
        f"{len(heard)}/{EVENTS}",
        f"{per_user * 1e3:.2f} ms",
    ]


async def _connected(*brokers: Broker) -> None:
    """`start` returns before the broker is connected: a publish now would be refused."""
    deadline = time.monotonic() + 30
    while not all(broker.connected for broker in brokers):
        if time.monotonic() > deadline:
            raise RuntimeError("the brokers did not connect within 30 s")
        await asyncio.sleep(0.01)


async def main() -> None:
    cluster = PgCluster(settings=()).start()
    redis = RedisServer().start()
    try:
        rows = [
            await _measure("memory://", MemoryBroker),
            await _measure("postgres://", lambda: PostgresBroker("postgres://", cluster.url())),
            await _measure("redis://", lambda: RedisBroker(redis.url)),
        ]
    finally:
        redis.stop()
        cluster.stop()
    head = ["broker", "publish (sender's time per event)", "hint latency p50", "p99", "heard"]
    head.append(f"subscribe a user ({TOPICS_PER_USER} topics)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    asyncio.run(main())
