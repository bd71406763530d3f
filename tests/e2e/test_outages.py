"""The database fails while chatd serves: every request gets a JSON 503 `unavailable` with
Retry-After within seconds (never a hang, never a traceback per request), reads go on where the
database can still be read, nothing acknowledged is lost, and chatd recovers by itself.

PostgreSQL is stopped, then its port turned into a black hole (a host that no longer answers);
SQLite's file system fills up (a small tmpfs), then its files become immutable (`chattr +i`:
the writer's open files refuse writes on ext4; a read-only remount is refused while chatd holds
the files open for writing). Each test skips, saying why, where the machine cannot do that.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatd.config import Settings
from chatd.core.errors import Unavailable
from chatd.storage.database import open_database
from chatd.storage.postgres import UNREACHABLE_FOR
from tests.e2e.server import ServerProcess
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.e2e

ANSWER_WITHIN = 5.0  # seconds: an outage is answered, not waited out
BURST = 4
SERVER_ENV = {"CHATD_ARGON2_PROFILE": "CHEAPEST", "CHATD_RATE_LIMIT_SENDS": ""}
_names = itertools.count(1)


@dataclass
class Served:
    server: ServerProcess
    alice: int
    chat: int
    v1_chat: int
    auth: dict[str, str]
    acknowledged: dict[str, int] = field(default_factory=dict)  # text -> message id

    def log_size(self) -> int:
        return self.server.log_path.stat().st_size

    def log_since(self, size: int) -> str:
        with self.server.log_path.open("rb") as log:
            log.seek(size)
            return log.read().decode(errors="replace")


def _serve(database_url: str, log: Path) -> Served:
    server = ServerProcess(database_url, log, **SERVER_ENV).start()
    with httpx.Client(base_url=server.url) as http:
        alice = http.post("/users/add", json={"username": "alice"}).json()["id"]
        bob = http.post("/users/add", json={"username": "bob"}).json()["id"]
        chat = http.post("/chats/add", json={"name": "avito", "users": [alice, bob]}).json()["id"]
        account = {"username": "carol", "password": "carol's password"}
        assert http.post("/api/v1/users", json=account).status_code == 201
        token = http.post("/api/v1/auth/tokens", json=account).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        v1_chat = http.post("/api/v1/chats", json={"name": "v1"}, headers=auth).json()["id"]
    return Served(server, alice, chat, v1_chat, auth)


Request = tuple[str, str, dict[str, Any]]  # method, path, httpx keyword arguments


def _send(served: Served) -> Request:
    text = f"message {next(_names)}"
    return (
        "POST",
        "/messages/add",
        {"json": {"chat": served.chat, "author": served.alice, "text": text}},
    )


def _kinds(served: Served) -> dict[str, Request]:
    """One request of each kind, both APIs, reads and writes."""
    return {**_handled_in_storage(served), **_answered_elsewhere(served)}


def _handled_in_storage(served: Served) -> dict[str, Request]:
    """The kinds whose outage errors rise from storage straight to the error table."""
    n = next(_names)
    v1_messages = f"/api/v1/chats/{served.v1_chat}/messages"
    return {
        "avito chats/get": ("POST", "/chats/get", {"json": {"user": served.alice}}),
        "avito messages/get": ("POST", "/messages/get", {"json": {"chat": served.chat}}),
        "avito chats/add": (
            "POST",
            "/chats/add",
            {"json": {"name": f"chat {n}", "users": [served.alice]}},
        ),
        "v1 GET chats": ("GET", "/api/v1/chats", {"headers": served.auth}),
        "v1 GET messages": ("GET", v1_messages, {"headers": served.auth}),
        "v1 send": ("POST", v1_messages, {"json": {"text": f"v1 {n}"}, "headers": served.auth}),
    }


def _reads(served: Served) -> dict[str, Request]:
    return {k: r for k, r in _kinds(served).items() if "get" in k.lower()}


def _answered_elsewhere(served: Served) -> dict[str, Request]:
    """The kinds whose outage errors are handled outside storage: the Avito send (its batch,
    storage/sendbatch.py, on PostgreSQL) and a keyed v1 write (the idempotency layer's reads,
    api/idempotency.py, run outside the routes' error handling)."""
    n = next(_names)
    keyed = {**served.auth, "Idempotency-Key": f"key-{n}"}
    v1_messages = f"/api/v1/chats/{served.v1_chat}/messages"
    return {
        "avito send": _send(served),
        "v1 send, Idempotency-Key": (
            "POST",
            v1_messages,
            {"json": {"text": f"k {n}"}, "headers": keyed},
        ),
    }


@dataclass
class Answer:
    status: int | str  # or the transport error's name
    seconds: float
    body: Any = None
    retry_after: str | None = None


async def _ask(http: httpx.AsyncClient, request: Request) -> Answer:
    method, path, kwargs = request
    started = time.monotonic()
    try:
        response = await http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        return Answer(type(exc).__name__, time.monotonic() - started)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(
        response.status_code, time.monotonic() - started, body, response.headers.get("retry-after")
    )


def _ask_all(url: str, requests: dict[str, Request]) -> dict[str, Answer]:
    """Every request at once (a hang costs the test its timeout once, not once per kind)."""

    async def ask() -> dict[str, Answer]:
        async with httpx.AsyncClient(base_url=url, timeout=3 * ANSWER_WITHIN) as http:
            answers = await asyncio.gather(*(_ask(http, r) for r in requests.values()))
        return dict(zip(requests, answers, strict=True))

    return asyncio.run(ask())


def _not_503(answers: dict[str, Answer]) -> dict[str, Answer]:
    """The answers that are not a prompt JSON 503 `unavailable` with Retry-After."""
    return {
        kind: a
        for kind, a in answers.items()
        if not (
            a.status == 503
            and isinstance(a.body, dict)
            and a.body.get("error", {}).get("code") == "unavailable"
            and a.retry_after is not None
            and a.seconds < ANSWER_WITHIN
        )
    }


def _wait_until_served(served: Served, timeout: float = 10.0) -> float:
    """Seconds until every kind of request succeeds again."""
    started = time.monotonic()
    while True:
        answers = _ask_all(served.server.url, _kinds(served))
        failing = {
            k: a for k, a in answers.items() if not (isinstance(a.status, int) and a.status < 300)
        }
        if not failing:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"not served again: {failing}"
        time.sleep(0.2)


def _quiet(log: str) -> None:
    """An outage is told in a line or two, never with a traceback per request."""
    assert "Traceback" not in log, log
    assert len(log.splitlines()) <= 3, log


# PostgreSQL


@pytest.fixture(scope="module")
def durable_cluster() -> Iterator[PgCluster]:
    # Its own cluster: it is stopped here, and a stop must not lose the seeded token (the
    # session's cluster acknowledges commits before flushing them).
    cluster = PgCluster(settings=()).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_served(durable_cluster: PgCluster, tmp_path: Path) -> Iterator[Served]:
    name = f"outage_{next(_names)}"
    durable_cluster.psql(f"CREATE DATABASE {name}")
    served = _serve(durable_cluster.url(name), tmp_path / "server.log")
    try:
        yield served
    finally:
        served.server.kill()


@contextmanager
def _black_hole(port: int) -> Iterator[None]:
    """A host that stops answering: connections to `port` are accepted by the kernel and then
    never answered."""
    with socket.socket() as hole:
        hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hole.bind(("127.0.0.1", port))
        hole.listen(64)
        yield


@dataclass
class PgOutage:
    stopped: list[dict[str, Answer]]  # two rounds with PostgreSQL stopped
    unanswered: dict[str, Answer]  # its port a black hole
    recovered_in: float  # seconds after its start until every kind is served again
    log: str  # the server's log from the stop to the start

    def not_503(self, kinds: set[str]) -> dict[str, Answer]:
        rounds = [*self.stopped, self.unanswered]
        return {
            f"{kind} (round {r + 1})": answer
            for r, answers in enumerate(rounds)
            for kind, answer in _not_503(answers).items()
            if kind.split(" #")[0] in kinds
        }


def _burst(served: Served, kinds: Callable[[Served], dict[str, Request]]) -> dict[str, Request]:
    """Each kind BURST times, all at once: more requests than chatd has connections (8)."""
    return {f"{kind} #{i}": r for i in range(BURST) for kind, r in kinds(served).items()}


def _pg_outage(
    cluster: PgCluster, served: Served, kinds: Callable[[Served], dict[str, Request]]
) -> PgOutage:
    log_at = served.log_size()
    cluster.stop_server()
    try:
        stopped = [_ask_all(served.server.url, _burst(served, kinds)) for _round in range(2)]
        time.sleep(UNREACHABLE_FOR + 0.2)  # until chatd tries to connect again
        with _black_hole(cluster.port):
            unanswered = _ask_all(served.server.url, _burst(served, kinds))
    finally:
        cluster.start_server()
    log = served.log_since(log_at)
    outage = PgOutage(stopped, unanswered, _wait_until_served(served), log)
    slowest = max(a.seconds for answers in outage.stopped for a in answers.values())
    unanswered_slowest = max(a.seconds for a in unanswered.values())
    print(
        f"stopped: {2 * len(stopped[0])} requests, slowest {slowest:.3f} s; black hole: "
        f"{len(unanswered)} requests, slowest {unanswered_slowest:.2f} s; served again "
        f"{outage.recovered_in:.2f} s after the start; {len(log.splitlines())} log lines"
    )
    return outage


def test_requests_answer_503_at_once_while_postgresql_is_down_and_are_served_after(
    durable_cluster: PgCluster, pg_served: Served
) -> None:
    outage = _pg_outage(durable_cluster, pg_served, _handled_in_storage)
    assert outage.not_503(set(_handled_in_storage(pg_served))) == {}
    _quiet(outage.log)
    assert outage.recovered_in < ANSWER_WITHIN


def test_sends_batched_or_keyed_answer_503_while_postgresql_is_down(
    durable_cluster: PgCluster, pg_served: Served
) -> None:
    outage = _pg_outage(durable_cluster, pg_served, _answered_elsewhere)
    assert outage.not_503(set(_answered_elsewhere(pg_served))) == {}
    _quiet(outage.log)


# SQLite


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "4m")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def _fill(disk: Path) -> Path:
    """Writes a file until the disk has no byte left."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


def _send_all(served: Served, count: int) -> list[Answer]:
    """`count` Avito sends one after another; the acknowledged ones are recorded."""

    async def send() -> list[Answer]:
        answers = []
        async with httpx.AsyncClient(base_url=served.server.url, timeout=3 * ANSWER_WITHIN) as http:
            for _ in range(count):
                request = _send(served)
                answer = await _ask(http, request)
                if answer.status == 201:
                    served.acknowledged[request[2]["json"]["text"]] = answer.body["id"]
                answers.append(answer)
        return answers

    return asyncio.run(send())


def _check_stored(served: Served, path: Path) -> None:
    """Every acknowledged send stored once, seqs without gaps, and a sound file."""
    served.server.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT text, id, seq FROM messages WHERE chat_id = ? ORDER BY seq", (served.chat,)
        ).fetchall()
    stored = {text: message_id for text, message_id, _seq in rows}
    assert len(stored) == len(rows)
    assert [seq for *_rest, seq in rows] == list(range(1, len(rows) + 1))
    lost = {t: i for t, i in served.acknowledged.items() if stored.get(t) != i}
    assert lost == {}


def test_sqlite_on_a_full_disk_answers_503_reads_on_and_writes_again_when_space_is_freed(
    small_disk: Path, tmp_path: Path
) -> None:
    path = small_disk / "chatd.db"
    served = _serve(f"sqlite:///{path}", tmp_path / "server.log")
    try:
        assert {a.status for a in _send_all(served, 20)} == {201}
        log_at = served.log_size()
        filler = _fill(small_disk)
        full = _send_all(served, 10)
        refused = [a for a in full if a.status != 201]
        reads = _ask_all(
            served.server.url, {k: v for k, v in _kinds(served).items() if "GET" in k or "get" in k}
        )
        log = served.log_since(log_at)
        filler.unlink()
        after = _send_all(served, 10)
        _check_stored(served, path)
    finally:
        served.server.kill()
    assert refused, "every send was acknowledged on a full disk"
    assert _not_503({str(i): a for i, a in enumerate(refused)}) == {}
    assert {k: a.status for k, a in reads.items()} == {k: 200 for k in reads}
    _quiet(log)
    assert {a.status for a in after} == {201}
    print(
        f"full disk: {len(full)} sends, {len(refused)} refused with 503 (slowest "
        f"{max(a.seconds for a in full):.3f} s), {len(served.acknowledged)} acknowledged in all"
    )


def _immutable(paths: list[Path], on: bool) -> None:
    flag = "+i" if on else "-i"
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def _skip_unless_immutable_files_refuse_writes(directory: Path) -> None:
    """chattr +i must stop writes through a file already open (ext4 does; tmpfs does not)."""
    probe = directory / "probe"
    with probe.open("wb") as file:
        done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
        try:
            os.write(file.fileno(), b"x")
        except PermissionError:
            return
        finally:
            _immutable([probe], on=False)
    pytest.skip("an immutable file still takes writes through an open descriptor here")


def test_sqlite_files_turned_read_only_answer_writes_with_503_and_serve_reads(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    _skip_unless_immutable_files_refuse_writes(directory)
    path = directory / "chatd.db"
    served = _serve(f"sqlite:///{path}", tmp_path / "server.log")
    # In WAL mode a write goes to the -wal file first: both hold the database (the -shm index
    # stays writable: every reader writes its marks there).
    files = [path, path.with_name("chatd.db-wal")]
    try:
        assert {a.status for a in _send_all(served, 10)} == {201}
        log_at = served.log_size()
        _immutable(files, on=True)
        try:
            sends = _send_all(served, 5)
            kinds = _ask_all(served.server.url, _kinds(served))
            log = served.log_since(log_at)
        finally:
            _immutable(files, on=False)
        after = _send_all(served, 5)
        _check_stored(served, path)
    finally:
        served.server.kill()
    assert _not_503({str(i): a for i, a in enumerate(sends)}) == {}
    reads = _reads(served)
    assert _not_503({k: a for k, a in kinds.items() if k not in reads}) == {}
    assert {k: a.status for k, a in kinds.items() if k in reads} == {k: 200 for k in reads}
    _quiet(log)
    assert {a.status for a in after} == {201}


def test_a_sqlite_file_opened_read_only_answers_writes_unavailable_and_reads(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """chatd opens a file it can only read (SQLITE_READONLY on a write): a restored copy, a
    file whose permissions went wrong. Writes are Unavailable (503); reads work."""
    path = tmp_path / "chatd.db"
    shutil.copyfile(sqlite_template, path)
    settings = Settings(database_url=f"sqlite:///{path}")

    async def write_and_read() -> int:
        db = open_database(settings)
        try:
            with pytest.raises(Unavailable):
                await db.write(lambda conn: conn.exec_driver_sql("DELETE FROM users"))
            query = "SELECT count(*) FROM users"
            count: int = await db.read(lambda conn: conn.exec_driver_sql(query).scalar_one())
            return count
        finally:
            await db.dispose()

    asyncio.run(open_database(settings).dispose())  # the file in WAL mode, as chatd leaves it
    _skip_unless_immutable_files_refuse_writes(tmp_path)
    _immutable([path], on=True)
    try:
        assert asyncio.run(write_and_read()) == 0
    finally:
        _immutable([path], on=False)
