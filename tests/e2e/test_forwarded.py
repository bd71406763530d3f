"""Behind a proxy: CHATD_FORWARDED_ALLOW_IPS names the proxies whose X-Forwarded-For says who the
client is, so a per-address limit counts each client and not the balancer (compose.yaml's
HAProxy). Unset, the header is ignored: a client cannot buy a fresh budget by inventing one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

BUDGET = 2  # registrations per client address an hour


def _server(tmp_path: Path, **env: str) -> ServerProcess:
    return ServerProcess(
        f"sqlite:///{tmp_path / 'chatd.db'}",
        tmp_path / "server.log",
        CHATD_RATE_LIMIT_REGISTRATIONS=f"{BUDGET}/hour",
        CHATD_ARGON2_PROFILE="CHEAPEST",
        **env,
    )


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[ServerProcess]:
    server = _server(tmp_path, CHATD_FORWARDED_ALLOW_IPS="127.0.0.1").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def exposed(tmp_path: Path) -> Iterator[ServerProcess]:
    server = _server(tmp_path).start()
    try:
        yield server
    finally:
        server.kill()


def _register(server: ServerProcess, name: str, client: str) -> int:
    body = {"username": name, "password": "correct horse battery"}
    headers = {"X-Forwarded-For": client}
    return httpx.post(f"{server.url}/api/v1/users", json=body, headers=headers).status_code


def test_a_trusted_proxy_names_the_client_each_with_its_own_budget(
    behind_proxy: ServerProcess,
) -> None:
    assert [_register(behind_proxy, f"a{i}", "203.0.113.7") for i in range(BUDGET)] == [201] * 2
    assert _register(behind_proxy, "a-over", "203.0.113.7") == 429
    # Another client behind the same proxy still has its budget.
    assert _register(behind_proxy, "b0", "198.51.100.4") == 201


def test_without_a_trusted_proxy_the_header_is_ignored(exposed: ServerProcess) -> None:
    statuses = [_register(exposed, f"c{i}", f"203.0.113.{i}") for i in range(BUDGET + 1)]
    assert statuses == [201, 201, 429]
