"""Rate limits shared by replicas: two `chatd serve` processes whose broker is one real
redis-server count one budget per key there; with Redis killed or hung, requests still succeed
(each process counts in its own windows), promptly, and never with a 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess
from tests.redisserver import RedisServer

pytestmark = pytest.mark.e2e

BUDGET = 12  # Avito API requests per client address a minute
PROMPTLY = 3.0  # seconds: a hung Redis is given SHARED_TIMEOUT (0.5 s), not waited on


@pytest.fixture
def replicas(
    redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers on one database and one Redis (one after the other: the first migrates)."""
    url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    env = {"CHATD_BROKER_URL": redis_server.url, "CHATD_RATE_LIMIT_AVITO": f"{BUDGET}/minute"}
    first = ServerProcess(url, tmp_path / "first.log", **env)
    second = ServerProcess(url, tmp_path / "second.log", **env)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.kill()
        second.kill()


def _add_user(server: ServerProcess) -> tuple[int, int]:
    """A new user's id, and the requests left in the window after this one."""
    answer = httpx.post(f"{server.url}/users/add", json={"username": "alice"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], int(answer.headers["RateLimit-Remaining"])


def _list_chats(server: ServerProcess, user: int) -> httpx.Response:
    return httpx.post(f"{server.url}/chats/get", json={"user": user}, timeout=10)


def test_two_replicas_count_one_budget_in_redis(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = replicas
    # ServerProcess.start's own probes counted too: what is left is read from a reply.
    user, left = _add_user(first)
    assert 0 < left < BUDGET
    answers = [_list_chats(server, user) for server in (second, first) * BUDGET]
    statuses = [answer.status_code for answer in answers]
    # Counted in each process, each would have its own BUDGET: no 429 in 2 * BUDGET.
    assert statuses == [200] * left + [429] * (len(answers) - left)
    assert answers[left - 1].headers["RateLimit-Remaining"] == "0"


def test_requests_succeed_while_redis_is_down_or_hung(
    replicas: tuple[ServerProcess, ServerProcess], redis_server: RedisServer
) -> None:
    first, second = replicas
    user, _left = _add_user(first)
    redis_server.pause()  # hung: connections accepted, nothing answered
    try:
        for server in (first, second):
            started = time.monotonic()
            assert _list_chats(server, user).status_code == 200
            assert time.monotonic() - started < PROMPTLY
    finally:
        redis_server.resume()
    redis_server.kill()
    for server in (first, second):
        for _ in range(2):
            started = time.monotonic()
            answer = _list_chats(server, user)
            assert answer.status_code == 200, answer.text
            assert "RateLimit-Remaining" in answer.headers  # still limited, in the process
            assert time.monotonic() - started < PROMPTLY
        assert "rate limits: Redis failed" in server.log_path.read_text()
