"""`chatd users ...` manages accounts in the database the server uses."""

from __future__ import annotations

import os
import re
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


def test_list_prints_every_account_as_a_table_oldest_first(server_database_url: str) -> None:
    made = _users(server_database_url, "add", "zed", "--moderator", password="password1")
    assert made.returncode == 0, made.stderr
    assert _users(server_database_url, "add", "Bob", password="password2").returncode == 0
    assert _users(server_database_url, "block", "bob").returncode == 0
    listed = _users(server_database_url, "list")
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["id", "username", "role", "blocked", "created_at"]
    rows = [line.split() for line in lines]
    assert [row[:4] for row in rows] == [
        ["1", "zed", "moderator", "no"],
        ["2", "Bob", "user", "yes"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[4]) for row in rows)
    # Columns line up: each cell starts where its header does.
    starts = [header.index(name) for name in header.split()]
    for line, row in zip(lines, rows, strict=True):
        assert [line.index(cell, start) for cell, start in zip(row, starts, strict=True)] == starts


def test_list_of_an_empty_database_is_just_the_header(server_database_url: str) -> None:
    listed = _users(server_database_url, "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["id", "username", "role", "blocked", "created_at"]


def test_block_and_unblock_from_the_command_line_take_effect_at_once(
    server: ServerProcess, server_database_url: str
) -> None:
    with httpx.Client(base_url=server.url) as http:
        account = {"username": "bob", "password": "long enough"}
        bob = http.post("/api/v1/users", json=account).json()["id"]
        token = http.post("/api/v1/auth/tokens", json=account).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert http.get("/api/v1/me", headers=auth).status_code == 200

        blocked = _users(server_database_url, "block", "BOB")
        assert blocked.returncode == 0, blocked.stderr
        assert blocked.stdout.strip() == f"bob (id {bob}) is blocked"
        assert http.get("/api/v1/me", headers=auth).status_code == 401
        refused = http.post("/api/v1/auth/tokens", json=account)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "user_blocked")

        unblocked = _users(server_database_url, "unblock", "bob")
        assert unblocked.returncode == 0, unblocked.stderr
        assert unblocked.stdout.strip() == f"bob (id {bob}) is not blocked"
        # Unblocking lets bob log in again, but does not revive the token blocking revoked.
        assert http.get("/api/v1/me", headers=auth).status_code == 401
        assert http.post("/api/v1/auth/tokens", json=account).status_code == 201


def test_the_operator_may_block_a_moderator(server_database_url: str) -> None:
    made = _users(server_database_url, "add", "root", "--moderator", password="password1")
    assert made.returncode == 0, made.stderr
    assert _users(server_database_url, "block", "root").returncode == 0
    assert "yes" in _users(server_database_url, "list").stdout


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_blocking_an_unknown_user_is_refused(server_database_url: str, action: str) -> None:
    refused = _users(server_database_url, action, "nobody")
    assert refused.returncode == 1
    assert "no user named 'nobody'" in refused.stderr
