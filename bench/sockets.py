"""`python -m bench.sockets`: what idle WebSocket streams cost the server, and fan-out latency.

    python -m bench.sockets [--quick] [--database sqlite|postgresql|both] [--workers 4]

On each database, one `chatd serve` process (argon2 CHEAPEST, rate limits off), only 127.0.0.1:
1. 5,000 users registered and logged in over API v1; the second half in chats of 10.
2. PostgreSQL: the server's database transactions/s with no stream open.
3. 50 streams as a warm-up, the server's RSS; the other 4,950 (Authorization: Bearer), held by
   client processes (sockets_client.py); 11 s later the RSS again: its growth per stream. Then
   (PostgreSQL) transactions/s over 15 s of idle streams, and over 15 s from one message into
   one 10-member chat.
4. A chat of 1,000 of the users (in no chat before); one member sends 50 messages over HTTP, one
   every 200 ms; the latency from just before each POST to each member's stream receiving its
   message.created: with all 5,000 streams open, then with only the members'.
About 2 minutes on SQLite, 3 on PostgreSQL (--quick: 1,500 streams, 20 messages).

Transactions are xact_commit + xact_rollback of the server's database in pg_stat_database, read
over a connection to another database (so the readings do not count). A backend reports its
counts within 10 s of going idle (PostgreSQL 15): each window starts 11 s after earlier work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.databases import PostgresDatabase
from bench.servers import chatd_server
from bench.sockets_client import GROUP, Account, Clients, api_client, fan_out, post, register
from bench.sockets_client import make_groups as make_chats
from chatd.config import Settings

SYSTEMS = ("sqlite", "postgresql")
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "sockets.json"
LIMITS = ("SENDS", "LOGINS", "LOGIN_FAILURES", "REGISTRATIONS", "CHAT_CREATIONS")
SERVER_ENV = {"CHATD_ARGON2_PROFILE": "CHEAPEST", **{f"CHATD_RATE_LIMIT_{n}": "" for n in LIMITS}}
SWEEP_SECONDS = Settings.stream_sweep_seconds  # the server runs with the default
CROWD = 1000
RSS_GOAL_KIB = 30.0
P99_GOAL_MS = 100.0
STATS_LAG_SECONDS = 11.0
SETTLE_SECONDS = 3.0  # after closing most streams, before measuring the rest


@dataclass(frozen=True)
class Plan:
    sockets: int = 5000
    warmup: int = 50
    window_seconds: float = 15.0
    messages: int = 50
    interval: float = 0.2
    workers: int = 4

    @classmethod
    def quick(cls) -> Plan:
        return cls(sockets=1500, window_seconds=12.0, messages=20)


@dataclass(frozen=True)
class Row:
    system: str
    measure: str
    value: str  # as printed
    goal: str = ""
    passed: bool | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        head = {"system": self.system, "measure": self.measure, "value": self.value}
        return head | {"goal": self.goal, "passed": self.passed, **self.data}


def raise_file_limit(needed: int) -> None:
    """Soft limit up to the hard one, for us and the processes we start (they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"the open-file hard limit is {hard} (ulimit -Hn); {needed} needed")
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def server_memory(pid: int) -> dict[str, int]:
    """Resident memory in KiB: all of it, anonymous (heap, arenas) and file-backed."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            found[name] = int(rest.split()[0])
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time the processes have used."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Transactions:
    """Transactions committed or rolled back in the server's database, from pg_stat_database."""

    def __init__(self, conn: Any, database: str) -> None:
        self._conn = conn
        self._database = database

    @classmethod
    async def connect(cls, database: PostgresDatabase) -> Transactions:
        chatd = await asyncpg.connect(database.url)
        await chatd.execute("VACUUM ANALYZE")  # nothing left for autovacuum after the seeding
        await chatd.close()
        return cls(await asyncpg.connect(database.cluster.url("postgres")), database.name)

    async def count(self) -> int:
        query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1"
        return int(await self._conn.fetchval(query, self._database))

    async def per_second(self, seconds: float, settle: float = STATS_LAG_SECONDS) -> float:
        """Per second over `seconds`, once the earlier work's counts are in."""
        await asyncio.sleep(settle)
        started, before = time.monotonic(), await self.count()
        await asyncio.sleep(seconds)
        return (await self.count() - before) / (time.monotonic() - started)

    async def close(self) -> None:
        await self._conn.close()


class Run:
    """One database's measurements against one server; `rows` collects what is reported."""

    def __init__(self, system: str, url: str, pid: int, clients: Clients, plan: Plan) -> None:
        self.system, self.url, self.pid, self.clients, self.plan = system, url, pid, clients, plan
        self.api: httpx.AsyncClient = api_client(url)
        self.counter: Transactions | None = None
        self.reference = 0.0  # transactions/s with no stream open
        self.rows: list[Row] = []

    def add(self, measure: str, value: str, goal: str = "", **data: Any) -> None:
        passed = data.pop("passed", None)
        self.rows.append(Row(self.system, measure, value, goal, passed, data))

    def say(self, text: str) -> None:
        print(f"{self.system}: {text}", flush=True)

    async def seed(self) -> tuple[list[Account], list[int]]:
        started = time.monotonic()
        accounts = await register(self.api, self.plan.sockets)
        chats = await make_chats(self.api, accounts[len(accounts) // 2 :])
        took = time.monotonic() - started
        self.say(f"{len(accounts):,} users with tokens, {len(chats)} chats in {took:.0f} s")
        return accounts, chats

    async def no_streams(self, database: PostgresDatabase) -> None:
        self.counter = await Transactions.connect(database)
        self.reference = await self.counter.per_second(self.plan.window_seconds)
        seconds = f"over {self.plan.window_seconds:.0f} s"
        value = f"{self.reference:.2f}/s {seconds}"
        self.add("database transactions/s, 0 streams", value, "reference")

    async def open_idle(self, accounts: Sequence[Account]) -> int:
        """Opens every stream; what they cost at rest. Returns how many stayed open."""
        ws_url = self.url.replace("http://", "ws://", 1) + "/api/v1/ws"
        tokens = [a.token for a in accounts]
        await asyncio.to_thread(self.clients.open, ws_url, tokens[: self.plan.warmup])
        await asyncio.sleep(2.0)
        before = await asyncio.to_thread(server_memory, self.pid)
        started = time.monotonic()
        opened = await asyncio.to_thread(self.clients.open, ws_url, tokens[self.plan.warmup :])
        seconds = time.monotonic() - started
        ready, failures = sum(o.ready for o in opened), [f for o in opened for f in o.failures]
        self.say(f"{ready:,} streams opened in {seconds:.1f} s; idle now")
        procs = f"{self.clients.count} client processes"
        rate = f"{ready:,} in {seconds:.1f} s ({ready / seconds:,.0f}/s)"
        measure = f"open {len(tokens) - self.plan.warmup:,} streams ({procs})"
        self.add(measure, rate, seconds=round(seconds, 2), failures=failures[:5])
        await asyncio.sleep(STATS_LAG_SECONDS)  # idle, and the opening's counts are in
        after = await asyncio.to_thread(server_memory, self.pid)
        status = await asyncio.to_thread(self.clients.status)
        per_stream = (after["VmRSS"] - before["VmRSS"]) / max(1, ready)
        anon = (after["RssAnon"] - before["RssAnon"]) / max(1, ready)
        lost = f"; {sum(status.closed.values())} closed by the server" if status.closed else ""
        mib = f"{before['VmRSS'] / 1024:.0f} → {after['VmRSS'] / 1024:.0f} MiB"
        self.add(
            f"server RSS per idle stream ({status.open:,} open, {STATS_LAG_SECONDS:.0f} s idle)",
            f"{per_stream:.1f} KiB ({mib}){lost}",
            f"< {RSS_GOAL_KIB:.0f} KiB",
            passed=per_stream < RSS_GOAL_KIB,
            kib_per_stream=round(per_stream, 2),
            anon_kib_per_stream=round(anon, 2),
            before_kib=before,
            after_kib=after,
            closed_by_server=status.closed,
        )
        return status.open

    async def idle_transactions(self, open_: int, writer: Account, chat: int) -> None:
        assert self.counter is not None
        seconds = self.plan.window_seconds
        idle = await self.counter.per_second(seconds, settle=0)  # open_idle waited already
        self.add(
            f"database transactions/s, {open_:,} idle streams",
            f"{idle:.2f}/s over {seconds:.0f} s",
            f"≤ reference + 1 per {SWEEP_SECONDS:g} s sweep",
            passed=idle <= self.reference + (1 + 2 * SWEEP_SECONDS / seconds) / SWEEP_SECONDS,
        )
        started, before = time.monotonic(), await self.counter.count()
        await post(self.api, f"/api/v1/chats/{chat}/messages", {"text": "elsewhere"}, writer.token)
        await asyncio.sleep(seconds)
        after_write = (await self.counter.count() - before) / (time.monotonic() - started)
        what = f"one message into a {GROUP}-member chat"
        self.add(f"the same, over {seconds:.0f} s from {what}", f"{after_write:.2f}/s")

    async def fan_outs(self, crowd: Sequence[Account], open_: int) -> None:
        body = {"name": "crowd", "users": [a.id for a in crowd]}
        chat = int((await post(self.api, "/chats/add", body))["id"])
        seen = await asyncio.to_thread(self.clients.wait_for_chat, chat, len(crowd))
        if seen < len(crowd):
            self.say(f"warning: only {seen} of {len(crowd)} members heard of the chat")
        if self.counter is not None:
            await asyncio.sleep(STATS_LAG_SECONDS)  # the chat's creation is counted by then
        for label, streams in (("wide", f"{open_:,} streams open"), ("narrow", "only theirs")):
            if label == "narrow":
                await asyncio.to_thread(self.clients.ask_all, "keep", [a.id for a in crowd])
                # The 4,000 closes are the server's work of the next second: this measures the
                # fan-out to 1,000, not a fan-out racing a mass disconnect.
                await asyncio.sleep(SETTLE_SECONDS)
            self.say(f"fan-out to {len(crowd):,} members, {streams}")
            await self._fan_out(f"send → {len(crowd):,} members, {streams}", chat, crowd, label)

    async def _fan_out(self, measure: str, chat: int, crowd: Sequence[Account], label: str) -> None:
        before = None if self.counter is None else await self.counter.count()
        pids, started = self.clients.pids, time.monotonic()
        cpu = cpu_seconds([self.pid]), cpu_seconds(pids)
        schedule = (self.plan.messages, self.plan.interval)
        result = await fan_out(self.api, self.clients, chat, crowd[0], len(crowd), schedule, label)
        took = time.monotonic() - started
        server_cpu = (cpu_seconds([self.pid]) - cpu[0]) / took
        clients_cpu = (cpu_seconds(pids) - cpu[1]) / took
        data: dict[str, Any] = result.summary() | {"server_cpu": round(server_cpu, 2)}
        data["clients_cpu"] = round(clients_cpu, 2)
        value = ", ".join(f"{k} {data[f'{k}_ms']:.0f} ms" for k in ("p50", "p99", "max"))
        if data["received"] != data["expected"]:
            value += f" ({data['expected'] - data['received']:,} frames never came)"
        value += f"; CPU: server {server_cpu:.0%}, clients {clients_cpu:.0%}"
        if self.counter is not None and before is not None:
            await asyncio.sleep(STATS_LAG_SECONDS)
            per_message = (await self.counter.count() - before) / self.plan.messages
            data["db_transactions_per_message"] = round(per_message, 1)
            value += f"; {per_message:,.0f} db transactions a message"
        passed = data["p99_ms"] < P99_GOAL_MS and data["received"] == data["expected"]
        self.add(measure, value, f"p99 < {P99_GOAL_MS:.0f} ms", passed=passed, **data)


async def measure(run: Run, database: PostgresDatabase | None) -> list[Row]:
    async with run.api:
        accounts, chats = await run.seed()
        try:
            if database is not None:
                await run.no_streams(database)
            open_ = await run.open_idle(accounts)
            if run.counter is not None:
                await run.idle_transactions(open_, accounts[len(accounts) // 2], chats[0])
            else:
                run.add("database transactions/s, idle streams", "n/a: PostgreSQL only")
            await run.fan_outs(accounts[:CROWD], open_)  # in no chat until now
        finally:
            if run.counter is not None:
                await run.counter.close()
    return run.rows


def run_system(system: str, workdir: Path, plan: Plan) -> list[Row]:
    print(f"== idle streams and fan-out on {system}", flush=True)
    # Autovacuum off: its transactions (after the seeding) count in pg_stat_database too, and
    # this part counts chatd's. Durability is untouched.
    database = PostgresDatabase("autovacuum=off") if system == "postgresql" else None
    try:
        url = f"sqlite:///{workdir / 'sockets.db'}" if database is None else database.start().url
        server = chatd_server(url, workdir / f"sockets-{system}.log", **SERVER_ENV)
        server.start()
        try:
            assert server.process is not None
            clients = Clients(plan.workers)
            try:
                run = Run(system, server.url, server.process.pid, clients, plan)
                return asyncio.run(measure(run, database))
            finally:
                clients.stop()
        finally:
            server.stop()
    finally:
        if database is not None:
            database.stop()


def run_sockets(workdir: Path, quick: bool, systems: Sequence[str] = SYSTEMS) -> list[Row]:
    """Each database in turn (the `sockets` part of `python -m bench`)."""
    plan = Plan.quick() if quick else Plan()
    raise_file_limit(plan.sockets + 1000)
    return [row for system in systems for row in run_system(system, workdir, plan)]


def table(rows: Sequence[Row]) -> str:
    lines = ["| System | Measure | Value | Goal | Result |", "|---|---|---|---|---|"]
    for r in rows:
        result = {True: "pass", False: "**FAIL**", None: ""}[r.passed]
        lines.append(f"| {r.system} | {r.measure} | {r.value} | {r.goal} | {result} |")
    lines.append(
        "\nLatency: from just before the POST to the frame in a Python reader (the readers' own "
        "delay is included; they share the 2 cores with the server). CPU: of one core, over the "
        "fan-out. Transactions: pg_stat_database, PostgreSQL only."
    )
    return "\n".join(lines)


def _raise_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwind through every `finally`: all we started stops


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sockets", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,500 streams, 20 messages")
    parser.add_argument("--database", choices=(*SYSTEMS, "both"), default="both")
    parser.add_argument("--workers", type=int, default=Plan.workers, help="client processes")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    plan = replace(Plan.quick() if args.quick else Plan(), workers=args.workers)
    raise_file_limit(plan.sockets + 1000)
    systems = SYSTEMS if args.database == "both" else (args.database,)
    workdir = Path(tempfile.mkdtemp(prefix="chatd-bench-sockets-"))
    started = time.monotonic()
    try:
        rows = [row for system in systems for row in run_system(system, workdir, plan)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {"plan": vars(plan), "rows": [r.as_json() for r in rows]}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n## Idle streams and fan-out\n\n{table(rows)}")
    print(f"\n{time.monotonic() - started:.0f} s; results in {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process started was stopped", file=sys.stderr)
        sys.exit(130)
