"""`chatd demo` fills a database through the use cases, and the real server serves what it made."""

from __future__ import annotations

import os
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatd.demo import DEMO_PASSWORD
from chatd.demo_plan import ChatPlan, plan_chats, plan_messages, plan_people
from tests.e2e.server import CHATD, ServerProcess

pytestmark = pytest.mark.e2e

SMALL = ("--users", "30", "--chats", "8", "--messages", "500")


def _demo(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHATD), "demo", "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CHATD_ARGON2_PROFILE": "CHEAPEST"},
        timeout=120,
    )


def _user_ids(database_url: str) -> list[int]:
    listed = subprocess.run(
        [str(CHATD), "users", "list", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(line.split()[0]) for line in listed.stdout.splitlines()[1:]]


def _census(
    server: ServerProcess, users: list[int]
) -> tuple[dict[int, list[int]], list[dict[str, Any]]]:
    """Every chat's members, and every message, as the Avito API shows them to each user."""
    members: dict[int, list[int]] = {}
    messages: list[dict[str, Any]] = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for user in users:
            for chat in http.post("/chats/get", json={"user": user}).raise_for_status().json():
                members[chat["id"]] = chat["users"]
        for chat in members:
            messages += http.post("/messages/get", json={"chat": chat}).raise_for_status().json()
    return members, messages


def test_demo_fills_an_empty_database_that_the_server_then_serves(
    server_database_url: str, tmp_path: Path
) -> None:
    done = _demo(server_database_url, *SMALL)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    assert "made 30 users, 6 group chats, 2 private chats and 500 messages" in done.stdout
    assert DEMO_PASSWORD in done.stdout
    assert f"chatd serve --database-url {server_database_url}" in done.stdout
    users = _user_ids(server_database_url)
    assert len(users) == 30
    server = ServerProcess(server_database_url, tmp_path / "server.log").start()
    try:
        members, messages = _census(server, users)
        assert len(members) == 8
        assert all(chat_members for chat_members in members.values())
        assert {user for chat_members in members.values() for user in chat_members} == set(users)
        assert len(messages) == 500
        assert all(m["author"] in members[m["chat"]] for m in messages)
        assert any(re.search("[\u0430-\u044f]", m["text"]) for m in messages)
        # The web client's way in: the printed name and password log in.
        found = re.search(r"log in as (\S+),", done.stdout)
        assert found is not None
        login = {"username": found.group(1), "password": DEMO_PASSWORD}
        with httpx.Client(base_url=server.url) as http:
            token = http.post("/api/v1/auth/tokens", json=login)
            assert token.status_code == 201, token.text
            auth = {"Authorization": f"Bearer {token.json()['token']}"}
            assert http.get("/api/v1/chats", headers=auth).json()["chats"]
    finally:
        server.kill()


def test_demo_refuses_a_database_with_users_unless_told_to_add_to_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    assert _demo(url, *SMALL).returncode == 0
    before = _user_ids(url)

    refused = _demo(url, *SMALL)
    assert refused.returncode == 1
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert "already has users" in line
    assert "--into-existing" in line
    assert _user_ids(url) == before

    added = _demo(url, *SMALL, "--into-existing")
    assert added.returncode == 0, added.stderr
    users = _user_ids(url)
    assert len(users) == 60
    server = ServerProcess(url, tmp_path / "server.log").start()
    try:
        members, messages = _census(server, users)
    finally:
        server.kill()
    assert len(members) == 16  # the second run's groups reuse the first's names
    assert len(messages) == 1000


def test_bad_sizes_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    refused = _demo(url, "--users", "0", "--chats", "3")
    assert refused.returncode == 2
    assert "--users" in refused.stderr
    assert not (tmp_path / "chatd.db").exists()


Plan = tuple[list[str], list[ChatPlan], list[tuple[int, int, str]]]


def _plan(seed: int) -> Plan:
    rng = random.Random(seed)
    people = plan_people(rng, 1000)
    chats = plan_chats(rng, 200, 1000)
    return people, chats, list(plan_messages(rng, chats, 2000, 10_000))


def test_the_seed_decides_the_plan_which_puts_everyone_in_a_chat() -> None:
    people, chats, messages = _plan(7)
    assert _plan(7) == (people, chats, messages)
    assert _plan(8)[0] != people
    assert len({name.casefold() for name in people}) == 1000
    assert {person for chat in chats for person in chat.members} == set(range(1000))
    sizes = sorted(len(chat.members) for chat in chats)
    assert sizes[0] == 2
    assert sizes[-1] > 20
    per_chat = [0] * len(chats)
    for chat, author, _text in messages:
        per_chat[chat] += 1
        assert author in chats[chat].members
    assert max(per_chat) > 10 * sorted(per_chat)[len(chats) // 2]  # a few busy, many quiet
