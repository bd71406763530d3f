"""`python -m bench.brokers`: what each broker costs per event and per connected user.

Per event: a publish from one broker to the listening side of another (two instances), timed
from before `publish` to the listener's callback, with one topic per event (a chat's hint).
Per connected user: subscribing to a user's topics (their own and their chats': 20 here), the
round trips an instance pays when a user connects, and what the broker keeps per topic.
Brokers: memory:// (in process), postgres:// (a throwaway PostgreSQL 15, durable settings),
redis:// (a throwaway redis-server). Prints a markdown table for docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable

from chatd.realtime.broker import Broker, MemoryBroker
from chatd.realtime.pgbroker import PostgresBroker
from chatd.realtime.redisbroker import RedisBroker
from tests.pgcluster import PgCluster, free_port

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

    await sender.start(lambda _t, _p: None)
    await listener.start(notify)
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


def _redis(port: int, workdir: str) -> subprocess.Popen[bytes]:
    server = shutil.which("redis-server") or "redis-server"
    options = ("--save", "", "--appendonly", "no", "--dir", workdir)
    return subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", *options],
        stdout=subprocess.DEVNULL,
    )


async def main() -> None:
    cluster = PgCluster(settings=()).start()
    redis_dir = tempfile.mkdtemp(prefix="chatd-bench-redis-")
    redis_port = free_port()
    redis = _redis(redis_port, redis_dir)
    try:
        await asyncio.sleep(0.3)
        rows = [
            await _measure("memory://", MemoryBroker),
            await _measure("postgres://", lambda: PostgresBroker("postgres://", cluster.url())),
            await _measure("redis://", lambda: RedisBroker(f"redis://127.0.0.1:{redis_port}/0")),
        ]
    finally:
        redis.kill()
        cluster.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)
    head = ["broker", "publish (sender's time per event)", "hint latency p50", "p99", "heard"]
    head.append(f"subscribe a user ({TOPICS_PER_USER} topics)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    asyncio.run(main())
