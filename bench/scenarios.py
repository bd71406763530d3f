"""chatd under load: seed through the API, then drive every method with wrk.

Reads are measured with 1,000 and then with 1,000,000 messages in other chats, before any write
load adds rows of its own; writes come last. Each target's reference runs in alternation with
what it is compared with (see series.py): the HTTP ceiling beside the reads, pgbench or the
SQLite loop beside messages/add.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bench.load import Load
from bench.measurements import Results
from bench.search import author_token, search_series
from bench.seed import BULK_CHATS, CROWD, READER_CHATS, Seeded, seed
from bench.series import Series, measure
from bench.servers import ceiling_server, chatd_server
from bench.wrk import fixed, wrk_series

HISTORY_SIZES = (("1k", 1), ("1M", 999))  # label, bulk messages added per bulk chat before it
PAGE = 100

MESSAGES_ADD_ONE = "messages/add one chat"
MESSAGES_ADD_RANDOM = f"messages/add random of {BULK_CHATS} chats"
MESSAGES_ADD_BIG = f"messages/add one chat of {CROWD} members"
USERS_ADD = "users/add"
CHATS_ADD = "chats/add (2 users)"
CEILING_FASTAPI = "FastAPI POST, fixed JSON"
CEILING_ASGI = "bare ASGI POST, fixed JSON"
CEILING_BODY = json.dumps({"user": 1})

References = Callable[[Seeded], list[Series]]


class Database(Protocol):
    system: str

    @property
    def url(self) -> str: ...

    def add_bulk_messages(self, seeded: Seeded, per_chat: int) -> None: ...

    def count_messages(self) -> int: ...


def chats_get(history: str) -> str:
    return f"chats/get ({READER_CHATS} chats), {history} msgs in db"


def messages_get(history: str) -> str:
    return f"messages/get limit {PAGE}, {history} msgs in db"


def messages_get_all(history: str) -> str:
    return f"messages/get all of a bulk chat, {history} msgs in db"


def ceiling_beside(system: str) -> str:
    """The ceiling's scenario when measured in alternation with chatd's reads on `system`."""
    return f"{CEILING_ASGI}, beside {system}"


def run_ceiling(workdir: Path, load: Load, results: Results) -> None:
    """Orientation: FastAPI against a bare ASGI app on the same uvicorn (bench/ceiling.py)."""
    servers = [ceiling_server(app, workdir / f"ceiling-{app}.log") for app in ("fastapi", "asgi")]
    try:
        series = []
        for server, scenario in zip(servers, (CEILING_FASTAPI, CEILING_ASGI), strict=True):
            server.start()
            args = fixed("/ceiling", CEILING_BODY)
            for c in load.connections:
                series.append(wrk_series("ceiling", scenario, server.url, "post.lua", args, c))
        measure(series, load, results)
    finally:
        for server in servers:
            server.stop()


def run_chatd(
    database: Database,
    workdir: Path,
    load: Load,
    results: Results,
    ceiling_url: str,
    references: References,
) -> Seeded:
    """Starts `chatd serve` on the database, seeds it, measures, stops it."""
    server = chatd_server(database.url, workdir / f"chatd-{database.system}.log")
    server.start()
    try:
        print(f"seeding {database.system} through the API ...", flush=True)
        seeded = seed(server.url)
        for label, per_chat in HISTORY_SIZES:
            database.add_bulk_messages(seeded, per_chat)
            total = database.count_messages()
            print(f"{database.system}: {total:,} messages in the database", flush=True)
            series = read_series(database.system, server.url, seeded, label, load)
            if label == HISTORY_SIZES[-1][0]:
                series += _ceiling(database.system, ceiling_url, load)
                token = author_token(database.url, server.url, "bench-author")
                series += search_series(database.system, server.url, token)
            measure(series, load, results)
        print(f"{database.system}: messages/add beside its reference", flush=True)
        measure(
            send_series(database.system, server.url, seeded, load) + references(seeded),
            load,
            results,
        )
        measure(_other_writes(database.system, server.url, seeded, load), load, results)
    finally:
        server.stop()
    return seeded


def read_series(system: str, url: str, seeded: Seeded, history: str, load: Load) -> list[Series]:
    bodies = {
        chats_get(history): ("/chats/get", {"user": seeded.reader}),
        messages_get(history): ("/messages/get", {"chat": seeded.history_chat, "limit": PAGE}),
        # A bulk chat holds ~1,000 messages once the 1M history is loaded.
        messages_get_all(history): ("/messages/get", {"chat": seeded.bulk_first}),
    }
    return [
        wrk_series(system, scenario, url, "post.lua", fixed(path, json.dumps(body)), c)
        for scenario, (path, body) in bodies.items()
        for c in load.connections
    ]


def _ceiling(system: str, url: str, load: Load) -> list[Series]:
    args = fixed("/ceiling", CEILING_BODY)
    scenario = ceiling_beside(system)
    return [wrk_series("ceiling", scenario, url, "post.lua", args, c) for c in load.connections]


def send_series(system: str, url: str, seeded: Seeded, load: Load) -> list[Series]:
    one = json.dumps({"chat": seeded.hot_chat, "author": seeded.author, "text": "hello from wrk"})
    big = json.dumps({"chat": seeded.big_chat, "author": seeded.author, "text": "hello, crowd"})
    random_args = (str(seeded.bulk_first), str(seeded.bulk_last), str(seeded.author))
    return [
        wrk_series(system, scenario, url, script, args, c)
        for scenario, script, args in (
            (MESSAGES_ADD_ONE, "post.lua", fixed("/messages/add", one)),
            (MESSAGES_ADD_RANDOM, "messages_random.lua", fixed(*random_args)),
            (MESSAGES_ADD_BIG, "post.lua", fixed("/messages/add", big)),
        )
        for c in load.connections
    ]


def _other_writes(system: str, url: str, seeded: Seeded, load: Load) -> list[Series]:
    members = f"[{seeded.author},{seeded.peer}]"

    # A fresh tag per run: names must stay unique across warm-up and repeats.
    def users() -> tuple[str, ...]:
        return ("/users/add", '{"username":"NAME"}', _tag())

    def chats() -> tuple[str, ...]:
        return ("/chats/add", f'{{"name":"NAME","users":{members}}}', _tag())

    return [
        wrk_series(system, scenario, url, "unique_names.lua", args, c)
        for scenario, args in ((USERS_ADD, users), (CHATS_ADD, chats))
        for c in load.connections
    ]


def _tag() -> str:
    return "w" + secrets.token_hex(6)
