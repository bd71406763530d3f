"""GET /healthz and GET /readyz: for a container's HEALTHCHECK, an orchestrator, a load balancer.

    /healthz  the process serves HTTP: always 200 {"status": "ok"}; touches nothing else
    /readyz   200 when this instance can serve, else 503, with what it checked:
              database     reachable (one trivial read, within READY_TIMEOUT)
              migrations   the database's schema revision is the code's head revision
              broker       which one (memory, postgres, redis), connected or degraded

A degraded broker leaves the instance ready: hints are lost, not events, and the hub's sweep
delivers within CHATD_STREAM_SWEEP_SECONDS (realtime/broker.py). Neither probe needs a token or
counts against a rate limit (probes come often, from an address shared by everything behind
it). /readyz runs one check at a time and shares its answer for RECHECK_AFTER seconds, so that
however often it is asked the database sees at most about one check a second.

The checks themselves are given by app.py (`Probes`): this module knows no storage nor broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, Request, Response

from chatd.api import render
from chatd.api.schemas import Model
from chatd.core.errors import Unavailable

log = logging.getLogger("chatd.health")

READY_TIMEOUT = 2.0  # seconds the database has to answer a readiness check
RECHECK_AFTER = 1.0  # seconds a readiness answer is shared with the probes that follow it


class Health(Model):
    status: Literal["ok"]


class DatabaseCheck(Model):
    status: Literal["ok", "unreachable", "error"]
    detail: str | None = None


class MigrationsCheck(Model):
    status: Literal["ok", "behind", "ahead", "unknown"]
    database: list[str]
    head: list[str]


class BrokerCheck(Model):
    status: Literal["connected", "degraded"]
    broker: Literal["memory", "postgres", "redis"]


class Checks(Model):
    database: DatabaseCheck
    migrations: MigrationsCheck
    broker: BrokerCheck


class Readiness(Model):
    status: Literal["ready", "not_ready"]
    checks: Checks


@dataclass(frozen=True)
class Probes:
    """What /readyz asks, wired by app.py."""

    database_revisions: Callable[[], Awaitable[frozenset[str]]]  # raises when unreachable
    head: frozenset[str]  # the revisions the code's migrations lead to
    known: frozenset[str]  # every revision the code has a migration for
    broker: Literal["memory", "postgres", "redis"]
    broker_connected: Callable[[], bool]


class ReadinessCheck:
    """Runs the probes, one run at a time, and keeps the answer for RECHECK_AFTER seconds."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes
        self._answer: Readiness | None = None
        self._answered_at = 0.0
        self._running: asyncio.Task[Readiness] | None = None

    async def readiness(self) -> Readiness:
        if self._answer is not None and time.monotonic() - self._answered_at < RECHECK_AFTER:
            return self._answer
        running = self._running
        if running is None or running.done():
            running = self._running = asyncio.create_task(self._check())
        # Shielded: a probe that gives up must not cancel the run the others wait for.
        return await asyncio.shield(running)

    async def _check(self) -> Readiness:
        database, migrations = await self._schema()
        probes = self.probes
        broker = BrokerCheck(
            status="connected" if probes.broker_connected() else "degraded", broker=probes.broker
        )
        ready = database.status == "ok" and migrations.status == "ok"
        answer = Readiness(
            status="ready" if ready else "not_ready",
            checks=Checks(database=database, migrations=migrations, broker=broker),
        )
        was = self._answer
        if was is not None and was.status != answer.status:
            # One line when it changes, not one a probe: a prober asks every few seconds.
            log.warning("readiness: %s (%s)", answer.status, _summary(answer.checks))
        self._answer, self._answered_at = answer, time.monotonic()
        return answer

    async def _schema(self) -> tuple[DatabaseCheck, MigrationsCheck]:
        head = sorted(self.probes.head)
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                revisions = await self.probes.database_revisions()
        except TimeoutError:
            failed = DatabaseCheck(status="unreachable", detail=f"no answer in {READY_TIMEOUT} s")
        except Unavailable:
            failed = DatabaseCheck(status="unreachable", detail="cannot be reached")
        except Exception as exc:
            # Its class only: a driver's message may quote a URL or a query.
            log.warning("readiness: the database check failed", exc_info=True)
            failed = DatabaseCheck(status="error", detail=type(exc).__name__)
        else:
            return DatabaseCheck(status="ok"), MigrationsCheck(
                status=self._compare(revisions), database=sorted(revisions), head=head
            )
        return failed, MigrationsCheck(status="unknown", database=[], head=head)

    def _compare(self, revisions: frozenset[str]) -> Literal["ok", "behind", "ahead"]:
        if revisions == self.probes.head:
            return "ok"
        # A revision the code has no script for: a newer chatd migrated this database.
        return "behind" if revisions <= self.probes.known else "ahead"


def _summary(checks: Checks) -> str:
    return (
        f"database {checks.database.status}, migrations {checks.migrations.status}, "
        f"broker {checks.broker.broker} {checks.broker.status}"
    )


router = APIRouter(tags=["Health"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process serves HTTP",
    description="Always 200 while the process answers; it checks nothing else.",
)
async def healthz() -> Response:
    return render.json({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see which check failed"}},
    summary="Readiness: the database, its schema and the broker",
    description=(
        "200 when this instance can serve: the database answered, its schema is at the "
        "revision this code expects. The broker is reported, and a degraded one leaves the "
        "instance ready (streams are then served by the periodic sweep)."
    ),
)
async def readyz(request: Request) -> Response:
    check: ReadinessCheck = request.app.state.readiness
    answer = await check.readiness()
    return render.json(answer.model_dump(), 200 if answer.status == "ready" else 503)
