"""What the search index costs a send (issue 18): chatd as shipped beside chatd on a database
whose search index was dropped after migrating, everything else alike.

Both databases are seeded alike (the million-message history: an index's cost grows with its
size), both servers are up at once, and their send series alternate run by run (series.py),
so the ratio is not the machine's drift. The database without the index is a measuring aid,
not a way to run chatd: its searches would find nothing written after the drop.
"""

from __future__ import annotations

import copy
import sqlite3
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.databases import PostgresDatabase, SqliteDatabase
from bench.load import Load
from bench.measurements import Results
from bench.scenarios import MESSAGES_ADD_ONE, MESSAGES_ADD_RANDOM, Database, send_series
from bench.seed import seed
from bench.series import measure
from bench.servers import chatd_server

CONNECTIONS = 64
PER_CHAT = 999  # the single-process part's history: 1,000 bulk chats of ~1,000 messages
SCENARIOS = (MESSAGES_ADD_ONE, MESSAGES_ADD_RANDOM)
SYSTEMS = ("sqlite", "postgresql")
# What migration 0007 made: the writes maintain exactly these (storage/search.py).
SQLITE_TRIGGERS = ("messages_fts_insert", "messages_fts_update", "messages_fts_delete")
PG_INDEX = "ix_messages_search"


def unindexed(system: str) -> str:
    return f"{system} without search index"


@dataclass(frozen=True)
class IndexCost:
    system: str
    scenario: str
    indexed: float
    unindexed: float

    @property
    def ratio(self) -> float:
        return self.indexed / self.unindexed if self.unindexed else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "scenario": self.scenario,
            "connections": CONNECTIONS,
            "with_index_per_s": round(self.indexed, 1),
            "without_index_per_s": round(self.unindexed, 1),
            "ratio": round(self.ratio, 3),
        }


def run_index_cost(workdir: Path, load: Load, results: Results) -> None:
    load = replace(load, connections=(CONNECTIONS,))
    print("== what the search index costs a send, SQLite", flush=True)
    root = workdir / "index-sqlite"
    root.mkdir()
    pair = (SqliteDatabase(root / "indexed.db"), SqliteDatabase(root / "unindexed.db"))
    _measure(pair, _drop_sqlite_index, workdir, load, results)
    print("== what the search index costs a send, PostgreSQL", flush=True)
    postgres = PostgresDatabase()
    try:
        postgres.start()
        other = copy.copy(postgres)
        other.name = "chatd_bench_unindexed"
        postgres.cluster.psql(f"CREATE DATABASE {other.name}")
        _measure((postgres, other), _drop_pg_index, workdir, load, results)
    finally:
        postgres.stop()


def _drop_sqlite_index(database: Database) -> None:
    assert isinstance(database, SqliteDatabase)
    conn = sqlite3.connect(database.path)
    try:
        for trigger in SQLITE_TRIGGERS:
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.commit()
    finally:
        conn.close()


def _drop_pg_index(database: Database) -> None:
    assert isinstance(database, PostgresDatabase)
    database.cluster.psql(f"DROP INDEX {PG_INDEX}", database.name)


def _measure(
    pair: tuple[Database, Database],
    drop: Any,
    workdir: Path,
    load: Load,
    results: Results,
) -> None:
    indexed, bare = pair
    with ExitStack() as stack:
        series = []
        labels = ((indexed, indexed.system + " indexed"), (bare, unindexed(bare.system)))
        for database, system in labels:
            log = workdir / f"chatd-{system.replace(' ', '-')}.log"
            server = chatd_server(database.url, log).start()  # migrates the database
            stack.callback(server.stop)
            if database is bare:
                drop(database)
            seeded = seed(server.url)
            database.add_bulk_messages(seeded, PER_CHAT)
            print(f"{system}: {database.count_messages():,} messages", flush=True)
            series += [
                s for s in send_series(system, server.url, seeded, load) if s.scenario in SCENARIOS
            ]
        measure(series, load, results)


def index_costs(results: Results) -> list[IndexCost]:
    found = []
    for system in SYSTEMS:
        for scenario in SCENARIOS:
            with_index = results.find(system + " indexed", scenario, CONNECTIONS)
            without = results.find(unindexed(system), scenario, CONNECTIONS)
            if with_index and without:
                found.append(
                    IndexCost(system, scenario, with_index.requests_per_s, without.requests_per_s)
                )
    return found


def index_cost_table(rows: list[IndexCost]) -> str:
    lines = [
        f"| Database | Scenario (@{CONNECTIONS}) | with the index | without | Ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.system} | {r.scenario} | {r.indexed:,.0f}/s | {r.unindexed:,.0f}/s "
            f"| {r.ratio:.2f} |"
        )
    return "\n".join(lines)
