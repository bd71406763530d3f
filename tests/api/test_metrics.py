"""GET /metrics in one process: what it counts, how it labels, and who may read it.

The app runs in the test process, so its values are the process's default registry, shared by
every test here: each test compares the values before and after what it does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatd import metrics
from chatd.config import Settings
from tests.api.helpers import app_client, created_id

TOKEN = "metrics-token-0123456789abcdef"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TEXT: dict[str, Any] = {"capture_output": True, "text": True}


def samples(text: str) -> Samples:
    """Every sample of the exposition, by name and labels (the text must parse)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(seen: Samples, name: str, **labels: str) -> float:
    return seen.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(dataclasses.replace(settings, metrics="open")) as client:
        yield client


async def test_requests_are_counted_by_route_template_not_raw_path(
    http: httpx.AsyncClient,
) -> None:
    before = await scrape(http)
    for chat in (1, 2, 3):
        assert (await http.get(f"/api/v1/chats/{chat}")).status_code == 401
    after = await scrape(http)
    route = "/api/v1/chats/{chat_id}"
    counted = value(after, "chatd_http_requests_total", route=route, method="GET", status="401")
    assert (
        counted
        - value(before, "chatd_http_requests_total", route=route, method="GET", status="401")
        == 3
    )
    assert not [key for key in after if ("route", "/api/v1/chats/1") in key[1]]


async def test_the_avito_fast_path_is_labelled_by_its_path(http: httpx.AsyncClient) -> None:
    labels = {"route": "/users/add", "method": "POST"}
    before = await scrape(http)
    created_id(await http.post("/users/add", json={"username": "metrics_avito"}))
    after = await scrape(http)
    assert (
        value(after, "chatd_http_requests_total", **labels, status="201")
        - value(before, "chatd_http_requests_total", **labels, status="201")
        == 1
    )


async def test_every_route_has_its_latency_histogram(http: httpx.AsyncClient) -> None:
    await http.post("/chats/get", json={"user": 1})
    await http.get("/api/v1/chats/7")
    seen = await scrape(http)
    for route, method in (("/chats/get", "POST"), ("/api/v1/chats/{chat_id}", "GET")):
        labels = {"route": route, "method": method}
        count = value(seen, "chatd_http_request_duration_seconds_count", **labels)
        assert count >= 1
        everything = value(seen, "chatd_http_request_duration_seconds_bucket", **labels, le="+Inf")
        assert everything == count
        assert value(seen, "chatd_http_request_duration_seconds_sum", **labels) > 0


async def test_unknown_paths_share_one_label(http: httpx.AsyncClient) -> None:
    before = await scrape(http)
    for probe in ("/wp-admin", "/.env", "/scan/a/b/c"):
        assert (await http.get(probe)).status_code == 404
    after = await scrape(http)
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert (
        value(after, "chatd_http_requests_total", **labels)
        - value(before, "chatd_http_requests_total", **labels)
        == 3
    )
    assert not [key for key in after if ("route", "/wp-admin") in key[1]]


async def test_requests_answered_before_routing_keep_their_template(
    http: httpx.AsyncClient,
) -> None:
    # HEAD is routed on a copy of the request (api/methods.py); a v1 write without a token is
    # refused by the idempotency layer before any routing (api/idempotency.py).
    await http.head("/api/v1/chats/5")
    await http.delete("/api/v1/messages/6")
    seen = await scrape(http)
    assert (
        value(
            seen,
            "chatd_http_requests_total",
            route="/api/v1/chats/{chat_id}",
            method="HEAD",
            status="401",
        )
        >= 1
    )
    assert (
        value(
            seen,
            "chatd_http_requests_total",
            route="/api/v1/messages/{message_id}",
            method="DELETE",
            status="401",
        )
        >= 1
    )


async def test_group_commit_sizes_are_recorded(http: httpx.AsyncClient) -> None:
    await http.post("/chats/get", json={"user": 1})  # the app's start-up chores are done
    before = await scrape(http)
    writes = 20
    replies = await asyncio.gather(
        *(http.post("/users/add", json={"username": f"metrics_group_{i}"}) for i in range(writes))
    )
    assert all(r.status_code == 201 for r in replies)
    after = await scrape(http)
    jobs = value(after, "chatd_group_commit_jobs_sum") - value(
        before, "chatd_group_commit_jobs_sum"
    )
    groups = value(after, "chatd_group_commit_jobs_count") - value(
        before, "chatd_group_commit_jobs_count"
    )
    assert jobs >= writes
    assert 1 <= groups <= jobs
    assert value(after, "chatd_group_commit_jobs_bucket", le="256.0") == value(
        after, "chatd_group_commit_jobs_count"
    )


async def test_database_and_broker_state_are_shown(
    http: httpx.AsyncClient, database_url: str
) -> None:
    seen = await scrape(http)
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    names = {name for name, labels in seen if ("database", database) in labels}
    assert "chatd_db_write_transactions_in_flight" in names
    if database == "postgresql":
        assert "chatd_db_connections_in_use" in names
    assert value(seen, "chatd_broker_state", broker="memory", state="connected") == 1
    assert value(seen, "chatd_broker_state", broker="memory", state="degraded") == 0


async def test_every_family_is_typed_and_named_by_convention(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics")
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families["chatd_http_requests"] == "counter"
    assert families["chatd_http_request_duration_seconds"] == "histogram"
    assert families["chatd_websockets_open"] == "gauge"
    assert families["chatd_stream_events_delivered"] == "counter"
    assert families["chatd_stream_hints_dropped"] == "counter"
    assert families["chatd_group_commit_jobs"] == "histogram"
    assert families["chatd_broker_state"] == "gauge"


# Who may read it


async def test_metrics_are_off_by_default(settings: Settings) -> None:
    assert settings.metrics == "off"
    async with app_client(settings) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert "/metrics" not in (await http.get("/openapi.json")).json()["paths"]


async def test_a_token_is_required_when_set(settings: Settings) -> None:
    guarded = dataclasses.replace(settings, metrics="token", metrics_token=TOKEN)
    async with app_client(guarded) as http:
        missing = await http.get("/metrics")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthenticated"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401
        assert "chatd_" not in wrong.text
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert samples(right.text)


def test_token_mode_needs_a_long_token() -> None:
    with pytest.raises(ValueError, match="CHATD_METRICS_TOKEN"):
        Settings(metrics="token", metrics_token="short")
    with pytest.raises(ValueError, match="CHATD_METRICS: must be off, token or open"):
        Settings.from_env({"CHATD_METRICS": "public"})


# Where values live


def test_nothing_imports_prometheus_client_before_serve_prepares_its_directory() -> None:
    # prometheus_client picks memory or files when first imported (chatd/metrics.py).
    code = (
        "import sys, chatd.app, chatd.cli, chatd.workers\n"
        "assert 'prometheus_client' not in sys.modules, 'imported too early'\n"
        "from chatd import metrics\n"
        "path = metrics.prepare_process_dir()\n"
        "from prometheus_client import values\n"
        "assert values.ValueClass._multiprocess\n"
        "print(path)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(result.stdout.strip())  # removed when the process exits


def test_preparing_after_prometheus_client_was_imported_is_refused() -> None:
    with pytest.raises(RuntimeError, match="before prometheus_client is imported"):
        metrics.prepare_process_dir()


def test_directories_of_killed_servers_are_removed_at_the_next_start(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **TEXT)
    left = tmp_path / f"chatd-metrics-{int(gone.stdout)}-abc"  # a server killed with kill -9
    running = tmp_path / f"chatd-metrics-{os.getpid()}-def"  # one still running
    for place in (left, running):
        place.mkdir()
        (place / "counter_1.db").write_bytes(b"")
    code = "from chatd import metrics; print(metrics.prepare_process_dir())"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, **TEXT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(tmp_path / "chatd-metrics-"))
    assert not left.exists()
    assert running.exists()
