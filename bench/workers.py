"""`chatd serve --workers 2` beside one process, on the same database and the same data.

Both servers are up at once (the idle one costs nothing) and their series alternate run by run,
like every other comparison here (series.py), so the ratio is not the machine's drift. One
process runs as `chatd serve` does by default (memory:// broker); two workers need a broker that
reaches both (cli.check_workers_broker), so theirs is the one an operator would pick: PostgreSQL's
LISTEN/NOTIFY on PostgreSQL, Redis beside SQLite. Its cost is part of what the ratio shows.

Everything shares 2 cores: wrk takes part of one, the database part of the other. The ratio says
what a second process buys when the machine is already that full, not what it buys on a larger
machine (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.databases import PostgresDatabase, SqliteDatabase
from bench.load import Load
from bench.measurements import Results
from bench.scenarios import (
    MESSAGES_ADD_ONE,
    MESSAGES_ADD_RANDOM,
    Database,
    chats_get,
    messages_get,
    read_series,
    send_series,
)
from bench.seed import seed
from bench.series import measure
from bench.servers import chatd_server
from tests.redisserver import RedisServer

# (processes, with the broker): the middle one tells the broker's cost from the second process's.
VARIANTS = ((1, False), (1, True), (2, True))
CONNECTIONS = 64
HISTORY = ("1M", 999)  # as the single-process part: 1,000 bulk chats of ~1,000 messages
SCENARIOS = (chats_get(HISTORY[0]), messages_get(HISTORY[0]), MESSAGES_ADD_ONE, MESSAGES_ADD_RANDOM)
SYSTEMS = ("sqlite", "postgresql")


def workers_system(system: str, workers: int, broker: bool) -> str:
    return f"{system} --workers {workers}{' + broker' if broker else ''}"


@dataclass(frozen=True)
class Scaling:
    """One scenario on one database: requests/s of one process without and with the broker,
    and of two workers with it; the ratio is two workers' over one process's (no broker)."""

    system: str
    scenario: str
    one: float
    one_brokered: float
    two: float

    @property
    def ratio(self) -> float:
        return self.two / self.one if self.one else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "scenario": self.scenario,
            "connections": CONNECTIONS,
            "workers_1_per_s": round(self.one, 1),
            "workers_1_with_broker_per_s": round(self.one_brokered, 1),
            "workers_2_per_s": round(self.two, 1),
            "ratio": round(self.ratio, 3),
        }


def run_workers(workdir: Path, load: Load, results: Results) -> None:
    """Both databases, each seeded afresh through the API."""
    load = replace(load, connections=(CONNECTIONS,))
    print("== --workers 2 against one process, SQLite (Redis broker for the two)", flush=True)
    redis = RedisServer()
    try:
        redis.start()
        database = SqliteDatabase(workdir / "workers-sqlite" / "chatd.db")
        database.path.parent.mkdir()
        _measure_pair(database, redis.url, workdir, load, results)
    finally:
        redis.stop()
    print("== --workers 2 against one process, PostgreSQL (LISTEN/NOTIFY for the two)", flush=True)
    postgres = PostgresDatabase()
    try:
        postgres.start()
        # postgres:// alone: the database's own server (config.py)
        _measure_pair(postgres, "postgres://", workdir, load, results)
    finally:
        postgres.stop()


def _measure_pair(
    database: Database, broker_url: str, workdir: Path, load: Load, results: Results
) -> None:
    with _servers(database, broker_url, workdir) as urls:
        seeded = seed(urls[VARIANTS[0]])
        database.add_bulk_messages(seeded, HISTORY[1])
        print(f"{database.system}: {database.count_messages():,} messages", flush=True)
        series = []
        for (workers, broker), url in urls.items():
            system = workers_system(database.system, workers, broker)
            series += [
                s
                for s in read_series(system, url, seeded, HISTORY[0], load)
                + send_series(system, url, seeded, load)
                if s.scenario in SCENARIOS
            ]
        measure(series, load, results)


@contextmanager
def _servers(
    database: Database, broker_url: str, workdir: Path
) -> Iterator[dict[tuple[int, bool], str]]:
    with ExitStack() as stack:
        urls = {}
        for workers, broker in VARIANTS:
            env = {"CHATD_WORKERS": str(workers)}
            if broker:
                env["CHATD_BROKER_URL"] = broker_url
            log = workdir / f"chatd-{database.system}-workers-{workers}-{broker}.log"
            server = chatd_server(database.url, log, **env).start()
            stack.callback(server.stop)
            urls[workers, broker] = server.url
        yield urls


def scaling(results: Results) -> list[Scaling]:
    found = []
    for system in SYSTEMS:
        for scenario in SCENARIOS:
            found_ = [
                results.find(workers_system(system, n, broker), scenario, CONNECTIONS)
                for n, broker in VARIANTS
            ]
            if all(found_):
                one, one_brokered, two = (m.requests_per_s for m in found_ if m)
                found.append(Scaling(system, scenario, one, one_brokered, two))
    return found


def scaling_table(rows: list[Scaling]) -> str:
    lines = [
        f"| Database | Scenario (@{CONNECTIONS}) | 1 process | 1 process + broker "
        "| --workers 2 + broker | Ratio 2/1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.system} | {r.scenario} | {r.one:,.0f}/s | {r.one_brokered:,.0f}/s "
            f"| {r.two:,.0f}/s | {r.ratio:.2f} |"
        )
    return "\n".join(lines)
