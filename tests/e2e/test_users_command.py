"""`chatd users ...` manages accounts in the database the server uses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import CHATD, ServerProcess

pytestmark = pytest.mark.e2e


def _users(database_url: str, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHATD), "users", *args, "--database-url", database_url],
        input=password + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, "CHATD_ARGON2_PROFILE": "CHEAPEST"},
    )


def test_first_moderator_is_made_from_the_command_line(
    server_database_url: str, tmp_path: Path
) -> None:
    made = _users(server_database_url, "add", "root", "--moderator", password="root password")
    assert made.returncode == 0, made.stderr
    server = ServerProcess(
        server_database_url, tmp_path / "server.log", CHATD_ARGON2_PROFILE="CHEAPEST"
    ).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            login = {"username": "root", "password": "root password"}
            token = http.post("/api/v1/auth/tokens", json=login).json()["token"]
            me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
            assert me["role"] == "moderator"
            everything = http.get(
                "/api/v1/chats?scope=all", headers={"Authorization": f"Bearer {token}"}
            )
            assert everything.status_code == 200
    finally:
        server.kill()


def test_avito_users_log_in_once_a_password_is_set(
    server: ServerProcess, server_database_url: str
) -> None:
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/users/add", json={"username": "legacy"}).status_code == 201
        login = {"username": "legacy", "password": "long enough"}
        assert http.post("/api/v1/auth/tokens", json=login).status_code == 401
        done = _users(server_database_url, "set-password", "legacy", password="long enough")
        assert done.returncode == 0, done.stderr
        assert http.post("/api/v1/auth/tokens", json=login).status_code == 201


def test_promote_and_demote_change_the_role(server_database_url: str) -> None:
    assert _users(server_database_url, "add", "eve", password="password1").returncode == 0
    promoted = _users(server_database_url, "promote", "EVE")
    assert promoted.returncode == 0
    assert "moderator" in promoted.stdout
    demoted = _users(server_database_url, "demote", "eve")
    assert "user" in demoted.stdout


def test_unknown_user_and_short_password_are_refused(server_database_url: str) -> None:
    unknown = _users(server_database_url, "promote", "nobody")
    assert unknown.returncode == 1
    assert "nobody" in unknown.stderr
    short = _users(server_database_url, "add", "shorty", password="short")
    assert short.returncode == 1
    assert "password" in short.stderr
