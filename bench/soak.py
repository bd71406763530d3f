"""`python -m bench.soak`: a minute of mixed load against the real server, expecting no error and
flat memory. See docs/reliability.md.

    python -m bench.soak [--seconds 60] [--database sqlite|postgresql] [--workers 2]

One `chatd serve` (argon2 CHEAPEST, rate limits off, otherwise defaults) on a fresh SQLite file or
a throwaway durable PostgreSQL cluster, only 127.0.0.1. 200 v1 users, in chats of 10; each holds
one HTTP connection, sending every operation of both APIs back to back (soak_client.MIX), and one
WebSocket stream, whose frames are counted, their `pos` checked to increase, and which must hear
every message sent into its chat. The server's RSS is read every second. Exits 1 on any error
(5xx, unexpected status, transport error, a stream closed or out of order or missing a message,
an error in the server's log) or if the RSS grows after the first 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bench.databases import PostgresDatabase
from bench.servers import ServerProcess, chatd_server
from bench.soak_client import SLOW_MS, Job, Member, Tally, work
from bench.sockets import SERVER_ENV, raise_file_limit, server_memory
from bench.sockets_client import GROUP, Opened, api_client, make_groups, percentile, register

USERS = 200  # each with one HTTP connection and one stream
FLAT_FROM = 10  # seconds of warm-up (caches, pools, allocator arenas) before RSS must be flat
# The growth allowed after FLAT_FROM, of the RSS then (~11 MiB of ~110). What grows in a healthy
# server levels off: SQLite's page caches (2 MiB on each of its 2 connections) fill as the file
# grows, allocator arenas settle; a 3-minute run plateaus +9.4 MiB over t=10 s. A leak of ~300
# bytes a request (one kept message or dict) or more over-runs it within the minute.
FLAT_SLACK = 0.10
MIB = 1024.0


@dataclass
class Outcome:
    seconds: float
    opened: int
    rss_kib: list[int] = field(default_factory=list)  # one a second, from t = 0
    cpu: dict[str, float] = field(default_factory=dict)  # cores busy over the run, by whom
    tally: Tally = field(default_factory=Tally)
    log_errors: list[str] = field(default_factory=list)
    started: float = 0.0  # time.time() at t = 0
    groups: dict[int, int] = field(default_factory=dict)  # user -> the chat its stream checks


class Fleet:
    """Load worker processes (spawned: no event loop or socket inherited), one pipe each."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=work, args=(theirs,), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def send(self, messages: Sequence[Any]) -> None:
        for pipe, message in zip(self.pipes, messages, strict=True):
            pipe.send(message)

    def answers(self, timeout: float) -> list[Any]:
        """One from each worker, in order."""
        found = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a load worker did not answer in {timeout:.0f} s")
            found.append(pipe.recv())
        return found

    def stop(self) -> None:
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time of the processes still there."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def postgres_pids(database: PostgresDatabase | None) -> list[int]:
    """The postmaster and its children (chatd's backends among them)."""
    if database is None:
        return []
    postmaster = int((database.cluster.data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(stat.parent.name))
    return [postmaster, *children]


async def seed(url: str) -> list[Member]:
    async with api_client(url) as api:
        accounts = await register(api, USERS)
        chats = await make_groups(api, accounts)
    members = []
    for k, chat in enumerate(chats):
        group = accounts[k * GROUP : (k + 1) * GROUP]
        for a in group:
            peers = tuple(b.id for b in group if b.id != a.id)
            members.append(Member(a.id, a.token, chat, peers))
    return members


def drive(server: ServerProcess, database: PostgresDatabase | None, args: Any) -> Outcome:
    assert server.process is not None
    members = asyncio.run(seed(server.url))
    fleet = Fleet(args.workers)
    try:
        ws_url = f"ws://127.0.0.1:{server.port}/api/v1/ws"
        shares = [tuple(members[i :: args.workers]) for i in range(args.workers)]
        fleet.send([Job("127.0.0.1", server.port, ws_url, share) for share in shares])
        opened: list[Opened] = fleet.answers(timeout=120)
        outcome = Outcome(args.seconds, sum(o.ready for o in opened))
        for failure in (f for o in opened for f in o.failures):
            outcome.tally.error("ws open failed", "stream", failure)
        who = {
            "server": [server.process.pid],
            "load generator": [os.getpid(), *(p.pid for p in fleet.processes if p.pid)],
        }
        if database is not None:
            who["PostgreSQL"] = postgres_pids(database)
        started = time.time()
        fleet.send([started + args.seconds] * args.workers)  # when to stop
        watch(outcome, server.process, who, started)
        tallies: list[Tally] = fleet.answers(timeout=120)
    finally:
        fleet.stop()
    merge(outcome.tally, tallies, members)
    outcome.started = started
    outcome.groups = {m.id: m.group for m in members}
    return outcome


def watch(
    outcome: Outcome, server: subprocess.Popen[bytes], who: dict[str, list[int]], started: float
) -> None:
    """The server's RSS every second until the end of the run; who used the CPU meanwhile."""
    before = {name: cpu_seconds(pids) for name, pids in who.items()}
    busy_before = machine_busy_seconds()
    for tick in range(int(outcome.seconds) + 1):
        time.sleep(max(0.0, started + tick - time.time()))
        rss = server_memory(server.pid).get("VmRSS")
        if rss is None or server.poll() is not None:
            outcome.tally.error("server exited", "server", f"at t={tick} s")
            break
        outcome.rss_kib.append(rss)
    for name, pids in who.items():
        outcome.cpu[name] = (cpu_seconds(pids) - before[name]) / outcome.seconds
    busy = (machine_busy_seconds() - busy_before) / outcome.seconds
    outcome.cpu["rest of the machine"] = busy - sum(outcome.cpu.values())


def merge(into: Tally, tallies: Sequence[Tally], members: Sequence[Member]) -> None:
    """One tally from the workers', with the messages each stream should have heard and did not."""
    for tally in tallies:
        for op, latencies in tally.latencies.items():
            into.latencies.setdefault(op, []).extend(latencies)
        into.errors.update(tally.errors)
        into.examples = tally.examples | into.examples
        for group, ids in tally.sent.items():
            into.sent.setdefault(group, set()).update(ids)
        into.heard.update(tally.heard)
        into.frames.update(tally.frames)
        into.slow.extend(tally.slow)
        into.streams_open += tally.streams_open
    for m in members:
        missing = len(into.sent.get(m.group, set()) - into.heard.get(m.id, set()))
        if missing:
            into.errors["ws message.created missing", "stream", f"in chat {m.group}"] += missing


def server_log_errors(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if "ERROR" in line or line.startswith("Traceback")]


def run(args: argparse.Namespace) -> Outcome:
    workdir = Path(tempfile.mkdtemp(prefix="chatd-soak-"))
    database = PostgresDatabase() if args.database == "postgresql" else None
    try:
        url = f"sqlite:///{workdir / 'soak.db'}" if database is None else database.start().url
        server = chatd_server(url, workdir / "server.log", **SERVER_ENV)
        server.start()
        try:
            outcome = drive(server, database, args)
        except Exception:
            print(f"the server's log ends:\n{server.log_path.read_text()[-6000:]}", file=sys.stderr)
            raise
        finally:
            server.stop()
        outcome.log_errors = server_log_errors(server.log_path)
        for line in outcome.log_errors:
            outcome.tally.error("server log", "server", line[line.find("ERROR") :][:100])
        return outcome
    finally:
        if database is not None:
            database.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def rss_verdict(rss_kib: Sequence[int]) -> tuple[bool, str]:
    """Flat if the median of the last 5 s is within FLAT_SLACK of the RSS at FLAT_FROM."""
    if len(rss_kib) <= FLAT_FROM + 5:
        return True, "too short a run to judge"
    at, end = rss_kib[FLAT_FROM] / MIB, statistics.median(rss_kib[-5:]) / MIB
    slack, growth = FLAT_SLACK * at, end - at
    last_20 = (rss_kib[-1] - rss_kib[max(FLAT_FROM, len(rss_kib) - 21)]) / MIB
    text = (
        f"{at:.1f} MiB at t={FLAT_FROM} s, {end:.1f} MiB over the last 5 s: {growth:+.1f} MiB "
        f"(allowed: +{slack:.1f} MiB); {last_20:+.1f} MiB over the last 20 s; "
        f"peak {max(rss_kib) / MIB:.1f} MiB"
    )
    return growth <= slack, text


def report(outcome: Outcome, database: str, workers: int) -> bool:
    """Prints what happened; whether it passed (no error, flat RSS)."""
    print(f"\n## Soak on {database}: {outcome.seconds:.0f} s, {USERS} HTTP connections and streams")
    report_requests(outcome)
    report_streams(outcome)
    print("\n## Errors\n")
    tally = outcome.tally
    for (kind, op, detail), count in sorted(tally.errors.items()):
        print(f"- {kind}: {op} {detail}: {count:,}")
        if tally.examples.get((kind, op, detail)):
            print(f"    e.g. {tally.examples[kind, op, detail]}")
    if not tally.errors:
        print("none")
    for line in outcome.log_errors[:20]:
        print(f"    server log: {line}")
    print("\n## Server RSS, MiB, one reading a second\n")
    for start in range(0, len(outcome.rss_kib), 5):
        row = " ".join(f"{kib / MIB:6.1f}" for kib in outcome.rss_kib[start : start + 5])
        print(f"t={start:3d} s  {row}")
    flat, verdict = rss_verdict(outcome.rss_kib)
    print(f"\n{'flat' if flat else 'NOT FLAT'}: {verdict}")
    cpu = ", ".join(f"{name} {cores:.0%}" for name, cores in outcome.cpu.items())
    print(f"\nCPU, of one core (the machine has {os.cpu_count()}): {cpu}")
    print(f"(load generator: this process and {workers} worker processes)")
    return flat and not tally.errors


def report_requests(outcome: Outcome) -> None:
    tally, seconds = outcome.tally, outcome.seconds
    total = sum(len(v) for v in tally.latencies.values())
    lost = sum(n for (kind, _op, _detail), n in tally.errors.items() if kind == "transport error")
    print(f"\n{total + lost:,} requests tried, {total:,} answered ({total / seconds:,.0f}/s)\n")
    print("| operation | requests | share | per s | p50 ms | p99 ms | max ms |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for op, latencies in sorted(tally.latencies.items(), key=lambda kv: -len(kv[1])):
        ms = sorted(latencies)
        cells = (
            f"{len(ms):,}",
            f"{len(ms) / total:.1%}",
            f"{len(ms) / seconds:,.1f}",
            *(f"{v:.1f}" for v in (percentile(ms, 0.5), percentile(ms, 0.99), ms[-1])),
        )
        print(f"| {op} | {' | '.join(cells)} |")
    by_second = Counter(int(at - outcome.started) for at, _op, _ms in tally.slow)
    when = "".join(f", {n:,} at t={t} s" for t, n in sorted(by_second.items()))
    if len(by_second) > 8:  # a stall shows as a few seconds; queueing, as most of them
        t, n = by_second.most_common(1)[0]
        when = f", in {len(by_second)} different seconds (the most, {n:,}, at t={t} s)"
    print(f"\nRequests over {SLOW_MS / 1e3:.0f} s: {len(tally.slow):,}{when}")


def report_streams(outcome: Outcome) -> None:
    tally = outcome.tally
    frames = sum(tally.frames.values())
    kinds = ", ".join(f"{k} {n:,}" for k, n in tally.frames.most_common())
    print(f"\nStreams: {outcome.opened} opened, {tally.streams_open} still open at the end")
    print(f"{frames:,} frames ({frames / outcome.seconds:,.0f}/s): {kinds}")
    heard = sum(len(ids) for ids in tally.heard.values())
    expected = sum(len(tally.sent.get(group, ())) for group in outcome.groups.values())
    print(f"message.created of each stream's own chat: {heard:,} heard of {expected:,} sent")


def _raise_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwind through every `finally`: all we started stops


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="load worker processes")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise_file_limit(4 * USERS + 1000)
    print(f"== soak: {args.seconds:.0f} s of mixed load on {args.database}", flush=True)
    outcome = run(args)
    passed = report(outcome, args.database, args.workers)
    print(f"\n{'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process started was stopped", file=sys.stderr)
        sys.exit(130)
