"""GET /metrics of the real `chatd serve`: its values kept in files per process, merged when read.

The server runs as a subprocess (tests/e2e/server.py), so prometheus_client works there as in
production: PROMETHEUS_MULTIPROC_DIR set by `chatd serve` before any worker starts.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from tests.e2e.server import ServerProcess
from tests.pgcluster import free_port
from tests.redisserver import RedisServer

pytestmark = pytest.mark.e2e

TOKEN = "e2e-metrics-token-0123456789"
SETTINGS = {
    "CHATD_ARGON2_PROFILE": "CHEAPEST",
    "CHATD_RATE_LIMIT_SENDS": "",
    "CHATD_RATE_LIMIT_REGISTRATIONS": "",
    "CHATD_RATE_LIMIT_LOGINS": "",
    "CHATD_RATE_LIMIT_CHAT_CREATIONS": "",
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: ServerProcess, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10)  # a new connection
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(seen: Samples, name: str, **labels: str) -> float:
    return seen.get((name, frozenset(labels.items())), 0.0)


def eventually(read: Callable[[], float], expected: float, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    seen = read()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = read()
    assert seen == expected


@contextmanager
def serving(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    server = ServerProcess(url, tmp_path / "server.log", **SETTINGS, **env).start(timeout=60)
    try:
        yield server
    finally:
        server.kill()


def sign_up(http: httpx.Client, name: str) -> tuple[int, dict[str, str]]:
    """The new user's id and authorization header."""
    account = {"username": name, "password": f"{name}'s password"}
    created = http.post("/api/v1/users", json=account)
    assert created.status_code == 201, created.text
    token = http.post("/api/v1/auth/tokens", json=account).json()["token"]
    return created.json()["id"], {"Authorization": f"Bearer {token}"}


def open_stream(
    server: ServerProcess, auth: dict[str, str], pos: int | None = None
) -> ClientConnection:
    query = "" if pos is None else f"?pos={pos}"
    url = server.url.replace("http://", "ws://") + f"/api/v1/ws{query}"
    return connect(url, additional_headers=auth)


def frame(stream: ClientConnection) -> dict[str, object]:
    received: dict[str, object] = json.loads(stream.recv(timeout=10))
    return received


def test_streams_are_counted_open_delivered_and_resumed(tmp_path: Path) -> None:
    with (
        serving(tmp_path, CHATD_METRICS="token", CHATD_METRICS_TOKEN=TOKEN) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        seen = scrape(server, TOKEN)
        # Read from the process's files: the in-memory registry's own families are absent.
        assert not [name for name, _ in seen if name.startswith("python_gc_")]
        assert value(seen, "chatd_websockets_open") == 0

        (_, alice), (bob_id, bob) = sign_up(http, "alice"), sign_up(http, "bob")
        chat = http.post("/api/v1/chats", json={"name": "c", "users": [bob_id]}, headers=alice)
        assert chat.status_code == 201, chat.text
        with open_stream(server, bob) as stream:
            ready = frame(stream)
            assert ready["type"] == "ready"
            assert value(scrape(server, TOKEN), "chatd_websockets_open") == 1
            path = f"/api/v1/chats/{chat.json()['id']}/messages"
            assert http.post(path, json={"text": "hi"}, headers=alice).status_code == 201
            assert frame(stream)["type"] == "message.created"
            eventually(
                lambda: value(scrape(server, TOKEN), "chatd_stream_events_delivered_total"), 1
            )
        eventually(lambda: value(scrape(server, TOKEN), "chatd_websockets_open"), 0)

        assert isinstance(ready["pos"], int)
        with open_stream(server, bob, pos=ready["pos"]) as stream:
            assert frame(stream)["type"] == "ready"
            assert frame(stream)["type"] == "message.created"  # replayed
        with open_stream(server, bob, pos=10**9) as stream:
            assert frame(stream)["type"] == "resync_required"
        # Counted once the frame is written, which the client may see first: waited for.
        eventually(
            lambda: value(scrape(server, TOKEN), "chatd_stream_events_delivered_total"), 2
        )  # and the replayed one
        seen = scrape(server, TOKEN)
        assert value(seen, "chatd_stream_resumes_total", outcome="resumed") == 1
        assert value(seen, "chatd_stream_resumes_total", outcome="resync_required") == 1


def test_a_broker_outage_shows_as_degraded_with_dropped_hints(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with serving(tmp_path, CHATD_METRICS="open", CHATD_BROKER_URL=nowhere) as server:
        seen = scrape(server)
        assert value(seen, "chatd_broker_state", broker="redis", state="degraded") == 1
        assert value(seen, "chatd_broker_state", broker="redis", state="connected") == 0
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for name in ("u1", "u2"):
                assert http.post("/users/add", json={"username": name}).status_code == 201
            # A write does not wait for the broker; its hint is given up to the sweep.
            chat = http.post("/chats/add", json={"name": "c", "users": [1, 2]})
            assert chat.status_code == 201, chat.text
        eventually(lambda: min(value(scrape(server), "chatd_stream_hints_dropped_total"), 1), 1)


def _workers_of(server: ServerProcess) -> set[int]:
    """The server's worker processes (multiprocessing's resource tracker is a child too)."""
    assert server.process is not None
    pid = server.process.pid
    workers = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(int(child))
        except FileNotFoundError:
            continue  # gone meanwhile
    return workers


def test_two_workers_are_summed_and_a_killed_one_is_forgotten(tmp_path: Path) -> None:
    redis = RedisServer().start()
    try:
        env = {"CHATD_WORKERS": "2", "CHATD_BROKER_URL": redis.url, "CHATD_METRICS": "open"}
        with serving(tmp_path, **env) as server:
            # Each worker's broker is connected: 2 only if both processes' gauges are summed.
            connected = {"broker": "redis", "state": "connected"}
            eventually(lambda: value(scrape(server), "chatd_broker_state", **connected), 2)
            assert httpx.post(f"{server.url}/users/add", json={"username": "u"}).status_code == 201
            requests = 30
            for _ in range(requests):  # a new connection each: the kernel spreads them
                assert httpx.post(f"{server.url}/chats/get", json={"user": 1}).status_code == 200
            labels = {"route": "/chats/get", "method": "POST", "status": "200"}
            # Every scrape, whichever worker answers it, counts every worker's requests.
            for _ in range(6):
                assert value(scrape(server), "chatd_http_requests_total", **labels) == requests

            # kill -9: the worker cannot say it is gone; its gauges must not count after it.
            workers = _workers_of(server)
            assert len(workers) == 2
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            # uvicorn starts another in its place.
            eventually(lambda: float(len(_workers_of(server) - workers)), 1, 30)
            eventually(lambda: value(scrape(server), "chatd_broker_state", **connected), 2, 30)
            left = os.listdir(_metrics_dir(min(_workers_of(server))))
            assert not [f for f in left if f.startswith("gauge_live") and f"_{victim}." in f]
            # Its counters stay: they are what it served.
            seen = scrape(server)
            assert value(seen, "chatd_http_requests_total", **labels) == requests
    finally:
        redis.stop()


def _metrics_dir(worker: int) -> str:
    """The directory `chatd serve` gave its workers (as a worker's environment shows it)."""
    environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    for entry in environ:
        name, _, value_ = entry.partition(b"=")
        if name == b"PROMETHEUS_MULTIPROC_DIR":
            return value_.decode()
    raise AssertionError("chatd serve set no PROMETHEUS_MULTIPROC_DIR")
