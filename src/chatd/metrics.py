"""Prometheus metrics: every instrument chatd keeps, and where their values live.

    chatd_http_requests_total{route,method,status}        api/metrics.py (the middleware)
    chatd_http_request_duration_seconds{route,method}     api/metrics.py
    chatd_websockets_open                                 api/v1/stream.py
    chatd_stream_events_delivered_total                   realtime/session.py
    chatd_stream_hints_dropped_total                      realtime/publisher.py
    chatd_stream_resumes_total{outcome}                   api/v1/stream.py
    chatd_group_commit_jobs                               storage/groupcommit.py
    chatd_db_write_transactions_in_flight{database}       storage/groupcommit.py
    chatd_db_connections_in_use{database}                 storage/postgres.py
    chatd_broker_state{broker,state}                      realtime/broker.py, backoff.py

Where values live is prometheus_client's choice, made once when it is first imported: in memory
(one process), or, when PROMETHEUS_MULTIPROC_DIR names a directory, in one file per process
there, which `/metrics` merges in whichever process answers (`chatd serve --workers N`). So
nothing here imports prometheus_client before it is needed: `chatd serve` first calls
`prepare_process_dir`, and the instruments are made at their first use, in each worker. The
core never imports this module; it stays on the standard library.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import getpass
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable
DIR_PREFIX = "chatd-metrics-"  # then the pid of the `chatd serve` that made it

# Seconds: the Avito hot path answers in a millisecond or two, a slow listing in a second.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # jobs; 256 is MAX_GROUP (groupcommit.py)


def prepare_process_dir() -> str:
    """Makes every process started from now on (uvicorn's workers inherit the environment)
    keep its values in files under a fresh private directory, removed when this process exits.
    Call it before anything imports prometheus_client. Raises RuntimeError if something did."""
    if "prometheus_client" in sys.modules:
        # Its values would stay in memory, and /metrics would read the empty directory.
        raise RuntimeError("prepare_process_dir() must run before prometheus_client is imported")
    _remove_left_behind()
    # Fresh even if one was inherited: an old directory's files would add a past run's counts.
    # Mode 0700: private to this user. The pid in its name says whose it is.
    path = tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_DIR] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _remove_left_behind() -> None:
    """Removes the directories of servers that were killed (kill -9 runs no atexit)."""
    root = Path(tempfile.gettempdir())
    for place in root.glob(f"{DIR_PREFIX}*-*"):
        pid = place.name.removeprefix(DIR_PREFIX).partition("-")[0]
        if pid.isdigit() and place.owner() == getpass.getuser() and not _alive(int(pid)):
            shutil.rmtree(place, ignore_errors=True)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR) or None


@dataclass(frozen=True)
class Instruments:
    http_requests: Counter
    http_duration: Histogram
    websockets_open: Gauge
    events_delivered: Counter
    hints_dropped: Counter
    resumes: Counter
    group_jobs: Histogram
    writes_in_flight: Gauge
    connections_in_use: Gauge
    broker_state: Gauge


class _Off:
    """Every instrument while metrics are off (CHATD_METRICS=off): an update is a call that does
    nothing. Counting anyway would cost every read a lock and two writes into a shared file
    (multiprocess mode: ~1 µs an update), and every event fanned out to a socket another."""

    def labels(self, *_values: str) -> _Off:
        return self

    def inc(self, _amount: float = 1) -> None:
        pass

    def dec(self, _amount: float = 1) -> None:
        pass

    def set(self, _value: float) -> None:
        pass

    def observe(self, _value: float) -> None:
        pass

    def track_inprogress(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()


_OFF = Instruments(**{f.name: cast(Any, _Off()) for f in fields(Instruments)})
_counting = False  # set by `count` (app.py, from CHATD_METRICS)


def count(on: bool) -> None:
    """Whether this process counts: the app says so as it is made, before any instrument is
    used (the database keeps the instrument it was given at its start)."""
    global _counting
    _counting = on


def instruments() -> Instruments:
    """This process's instruments: the real ones, made at their first use (see the module's
    docstring), or, while metrics are off, ones that do nothing."""
    return _instruments() if _counting else _OFF


@functools.cache
def _instruments() -> Instruments:
    from prometheus_client import Counter, Gauge, Histogram, multiprocess

    if multiprocess_dir() is not None:
        # A worker that exits takes its gauges with it (counters stay: they are totals). One
        # killed outright is found by /metrics (api/metrics.py: forget_dead_processes).
        atexit.register(multiprocess.mark_process_dead, os.getpid())
    # Gauges: "livesum", the sum over the processes alive now (a dead one's sockets are gone).
    return Instruments(
        http_requests=Counter(
            "chatd_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
        ),
        http_duration=Histogram(
            "chatd_http_request_duration_seconds",
            "Time from a request's arrival to the last byte of its answer.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
        ),
        websockets_open=Gauge(
            "chatd_websockets_open",
            "WebSockets open on the stream endpoint.",
            multiprocess_mode="livesum",
        ),
        events_delivered=Counter("chatd_stream_events_delivered", "Events sent to stream clients."),
        hints_dropped=Counter(
            "chatd_stream_hints_dropped",
            "Broker hints given up (broker down or too many pending): the sweep delivers them.",
        ),
        resumes=Counter(
            "chatd_stream_resumes",
            "Streams opened from a position: resumed, or told resync_required.",
            ["outcome"],
        ),
        group_jobs=Histogram(
            "chatd_group_commit_jobs",
            "Writes committed together in one group-commit transaction.",
            buckets=GROUP_BUCKETS,
        ),
        writes_in_flight=Gauge(
            "chatd_db_write_transactions_in_flight",
            "Group-commit transactions in the database now (SQLite: its one writer).",
            ["database"],
            multiprocess_mode="livesum",
        ),
        connections_in_use=Gauge(
            "chatd_db_connections_in_use",
            "PostgreSQL statements in flight: connection slots taken (CHATD_DB_POOL_SIZE each).",
            ["database"],
            multiprocess_mode="livesum",
        ),
        broker_state=Gauge(
            "chatd_broker_state",
            "Server processes whose broker is in this state (degraded: the sweep delivers).",
            ["broker", "state"],
            multiprocess_mode="livesum",
        ),
    )


def registry() -> CollectorRegistry:
    """What /metrics shows: every process's files merged, or this process's own values."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    instruments()  # every family is shown, even before its first use
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    forget_dead_processes(path)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path)  # type: ignore[no-untyped-call]
    return merged


def forget_dead_processes(path: str) -> None:
    """Drops the gauges of processes that are gone without saying so (killed, crashed)."""
    from prometheus_client import multiprocess

    pids = set()
    for name in os.listdir(path):
        if name.startswith("gauge_live") and name.endswith(".db"):
            pids.add(int(name.rpartition("_")[2][:-3]))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, as another user
    try:  # a zombie (killed, not yet reaped by its parent) still answers kill(0) on Linux
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return True  # no /proc: kill(0) said alive


# The instrumentation points: one call each where it happens.


def websocket_open() -> contextlib.AbstractContextManager[object]:
    """Counts a socket as open while the `with` block runs."""
    return instruments().websockets_open.track_inprogress()


def event_delivered() -> None:
    instruments().events_delivered.inc()


def hints_dropped(count: int) -> None:
    instruments().hints_dropped.inc(count)


def stream_started(requested: int | None, resynced: bool) -> None:
    if requested is not None:
        instruments().resumes.labels("resync_required" if resynced else "resumed").inc()


def group_committed(jobs: int) -> None:
    instruments().group_jobs.observe(jobs)


def write_in_flight(database: str) -> contextlib.AbstractContextManager[object]:
    return instruments().writes_in_flight.labels(database).track_inprogress()


def connections_in_use(database: str) -> Gauge:
    return instruments().connections_in_use.labels(database)


def broker_kind(url: str) -> str:
    scheme = url.partition(":")[0]
    return {"postgresql": "postgres", "rediss": "redis"}.get(scheme, scheme)


def broker_state(url: str, connected: bool | None) -> None:
    """The process's broker is connected, degraded, or (None) closed."""
    states = instruments().broker_state
    kind = broker_kind(url)
    states.labels(kind, "connected").set(1 if connected else 0)
    states.labels(kind, "degraded").set(1 if connected is False else 0)
