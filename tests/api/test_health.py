"""GET /healthz and /readyz: what they answer, on both databases, with each broker state; and,
against the real server, what /readyz says while PostgreSQL is down and after it is back."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatd.api.health import RECHECK_AFTER, Probes, ReadinessCheck
from chatd.config import Settings
from chatd.storage import migrate, revisions
from tests.api.helpers import app_client
from tests.e2e.server import ServerProcess
from tests.pgcluster import PgCluster
from tests.redisserver import RedisServer

_names = itertools.count(1)


async def test_healthz_answers_ok_and_head_too(client: httpx.AsyncClient) -> None:
    got = await client.get("/healthz")
    assert (got.status_code, got.json()) == (200, {"status": "ok"})
    head = await client.head("/healthz")
    assert (head.status_code, head.content) == (200, b"")


async def test_readyz_checks_the_database_its_schema_and_the_broker(
    client: httpx.AsyncClient,
) -> None:
    got = await client.get("/readyz")
    assert got.status_code == 200, got.text
    head = sorted(revisions.scripts().heads)
    assert got.json() == {
        "status": "ready",
        "checks": {
            "database": {"status": "ok", "detail": None},
            "migrations": {"status": "ok", "database": head, "head": head},
            "broker": {"status": "connected", "broker": "memory"},
        },
    }
    head_answer = await client.head("/readyz")
    assert (head_answer.status_code, head_answer.content) == (200, b"")


@pytest.fixture(params=["sqlite", "postgresql"])
def behind_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database migrated to the revision before the head."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'behind.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        name = f"behind_{next(_names)}"
        cluster.psql(f"CREATE DATABASE {name}")
        url = cluster.url(name)
    migrate.upgrade(url, "head-1")
    return url


async def test_readyz_is_503_while_the_schema_is_behind_the_code(behind_url: str) -> None:
    async with app_client(Settings(database_url=behind_url)) as client:
        got = await client.get("/readyz")
    assert got.status_code == 503, got.text
    body = got.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["status"] == "ok"
    migrations = body["checks"]["migrations"]
    assert migrations["status"] == "behind"
    assert migrations["database"] != migrations["head"] == sorted(revisions.scripts().heads)


async def test_a_degraded_broker_leaves_the_server_ready(settings: Settings) -> None:
    redis = RedisServer().start()
    try:
        redis_settings = dataclasses.replace(settings, broker_url=redis.url)
        async with app_client(redis_settings) as client:
            broker = await _broker_when(client, "connected")
            assert broker == {"status": "connected", "broker": "redis"}
            redis.kill()
            got = await _readyz_when(client, "degraded")
            assert got.status_code == 200, got.text
            assert got.json()["status"] == "ready"
            assert got.json()["checks"]["broker"] == {"status": "degraded", "broker": "redis"}
    finally:
        redis.stop()


async def _readyz_when(client: httpx.AsyncClient, broker_status: str) -> httpx.Response:
    deadline = time.monotonic() + 10
    while True:
        got = await client.get("/readyz")
        if got.json()["checks"]["broker"]["status"] == broker_status:
            return got
        assert time.monotonic() < deadline, got.text
        await asyncio.sleep(0.1)


async def _broker_when(client: httpx.AsyncClient, broker_status: str) -> dict[str, Any]:
    broker: dict[str, Any] = (await _readyz_when(client, broker_status)).json()["checks"]["broker"]
    return broker


async def test_probes_need_no_token_and_are_never_rate_limited(settings: Settings) -> None:
    strict: dict[str, Any] = {
        f.name: "1/hour" for f in dataclasses.fields(Settings) if f.name.startswith("rate_limit_")
    }
    async with app_client(dataclasses.replace(settings, **strict)) as client:
        answers = [(await client.get(path)).status_code for path in ("/healthz", "/readyz") * 30]
        # The limits are on: a second registration from this address is refused.
        account = {"username": "alice", "password": "a long enough password"}
        assert (await client.post("/api/v1/users", json=account)).status_code == 201
        account["username"] = "bob"
        assert (await client.post("/api/v1/users", json=account)).status_code == 429
    assert set(answers) == {200}


async def test_probes_are_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/healthz"]) == set(paths["/readyz"]) == {"get"}
    health = paths["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
    assert health["schema"]["$ref"] == "#/components/schemas/Health"
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    ready = paths["/readyz"]["get"]["responses"]
    ref = "#/components/schemas/Readiness"
    assert ready["200"]["content"]["application/json"]["schema"]["$ref"] == ref
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"] == ref


# One check at a time, shared: whatever the rate of probes, the database sees about one a second.


class CountedProbes:
    def __init__(self) -> None:
        self.checks = 0

    async def revisions(self) -> frozenset[str]:
        self.checks += 1
        await asyncio.sleep(0.05)
        return frozenset({"0005"})

    def probes(self) -> Probes:
        known = frozenset({"0004", "0005"})
        return Probes(self.revisions, frozenset({"0005"}), known, "memory", lambda: True)


async def test_concurrent_probes_share_one_check_and_its_answer_for_a_second() -> None:
    counted = CountedProbes()
    check = ReadinessCheck(counted.probes())
    answers = await asyncio.gather(*(check.readiness() for _ in range(50)))
    assert {a.status for a in answers} == {"ready"}
    assert counted.checks == 1
    await check.readiness()
    assert counted.checks == 1
    await asyncio.sleep(RECHECK_AFTER)
    await check.readiness()
    assert counted.checks == 2


async def test_a_probe_that_gives_up_does_not_cancel_the_check_others_wait_for() -> None:
    counted = CountedProbes()
    check = ReadinessCheck(counted.probes())
    impatient = asyncio.create_task(check.readiness())
    await asyncio.sleep(0.01)
    patient = asyncio.create_task(check.readiness())
    impatient.cancel()
    assert (await patient).status == "ready"
    assert counted.checks == 1


# The real server, with PostgreSQL stopped under it


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PgCluster]:
    # Its own cluster: it is stopped here, under a session that others share.
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.e2e
def test_readyz_says_the_database_is_unreachable_while_postgresql_is_down_then_recovers(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    name = f"ready_{next(_names)}"
    own_cluster.psql(f"CREATE DATABASE {name}")
    server = ServerProcess(
        own_cluster.url(name), tmp_path / "server.log", CHATD_BROKER_URL="postgres://"
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert _ready(http, "ready", broker="connected").status_code == 200
            own_cluster.stop_server()
            try:
                down = _ready(http, "not_ready")
                print("while PostgreSQL is down:", down.text)
                assert down.status_code == 503
                checks = down.json()["checks"]
                assert checks["database"]["status"] == "unreachable"
                assert checks["migrations"]["status"] == "unknown"
                assert checks["broker"]["broker"] == "postgres"
                # Answered at once, not waited out, however often it is asked.
                started = time.monotonic()
                for _ in range(5):
                    assert http.get("/readyz").status_code == 503
                assert time.monotonic() - started < 5 * 2.5
            finally:
                own_cluster.start_server()
            restarted = time.monotonic()
            back = _ready(http, "ready", broker="connected")
            print(f"{time.monotonic() - restarted:.2f} s after PostgreSQL is back:", back.text)
            assert back.status_code == 200
        assert "Traceback" not in server.log_path.read_text()
    finally:
        server.kill()


def _ready(http: httpx.Client, status: str, broker: str | None = None) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        got = http.get("/readyz")
        body = got.json()
        if body["status"] == status and broker in (None, body["checks"]["broker"]["status"]):
            return got
        assert time.monotonic() < deadline, got.text
        time.sleep(0.1)
