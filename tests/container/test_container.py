"""The Dockerfile and compose.yaml, built and run (`make test-container`; plain `make test` does
not collect this directory: pyproject.toml's norecursedirs).

Images come from Debian's packages through the Dockerfile's BASE argument and the stand-ins of
tests/container/compose.debian.yaml (no registry is reachable here); everything made is removed
by name at the end (podman.Made). The compose stack's replicas are addressed one by one at their
addresses on the stack's bridge network, which the host (root) reaches: the override then swaps
only images, as it may, and the stack runs exactly as compose.yaml writes it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.container import podman as pm
from tests.container.stack import Stack, next_event, stream
from tests.pgcluster import free_port
from tests.test_readme import README, STATUS_LINE, Block, bash_script, check_log, shell_blocks

PROJECT = "chatdtest"
# For a quicker second run on a workstation: the Debian base and the stand-ins stay.
KEEP_IMAGES = os.environ.get("CHATD_TEST_KEEP_BASE_IMAGES") == "1"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chatd image built FROM the Debian base, and the stand-ins for the official images:
    the base and the stand-ins are reused when present (and then left)."""
    made = pm.Made()
    try:
        base_made = pm.Made() if KEEP_IMAGES else made
        pm.build_debian_base(base_made, tmp_path_factory.mktemp("base"))
        with ThreadPoolExecutor() as pool:
            builds = []
            for _, name, context in pm.STAND_INS:
                if not pm.exists("image", name):
                    base_made.add("image", name)
                    builds.append(pool.submit(pm.build, name, context, base=pm.DEBIAN))
            made.add("image", pm.CHATD)
            builds.append(pool.submit(pm.build, pm.CHATD, pm.ROOT, base=pm.DEBIAN))
            for build in builds:
                build.result()
        yield pm.CHATD
    finally:
        assert made.remove_all() == []


# The image alone, on its SQLite volume


def avito_walkthrough() -> list[Block]:
    """The README's Avito section's examples (tests/test_readme.py runs them all on a checkout)."""
    lines = README.read_text().splitlines()
    start = lines.index("## The Avito API")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    return [
        b for b in shell_blocks("\n".join(lines)) if start < b.fence_line <= end and not b.skipped
    ]


def run_walkthrough(address: str, workdir: Path) -> None:
    blocks = avito_walkthrough()
    written = sum(1 for b in blocks for line in b.lines if STATUS_LINE.match(line))
    workdir.mkdir()
    done = subprocess.run(
        ["bash", "-c", bash_script(blocks, address)],
        cwd=workdir,
        env={**os.environ, "READMETEST_DIR": str(workdir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (workdir / "log").read_text().splitlines()
    problems, checked = check_log(log, README.read_text().splitlines())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert problems == []
    assert checked == written >= 10


def walkthrough_messages(url: str) -> list[str]:
    return [m["text"] for m in httpx.post(f"{url}/messages/get", json={"chat": 1}).json()]


def test_the_image_is_built_as_declared(images: str) -> None:
    image = pm.inspect(images)
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert "9000/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    assert "CHATD_DATABASE_URL=sqlite:////data/chatd.db" in config["Env"]
    assert config["Cmd"] == ["chatd", "serve"]
    assert "/healthz" in " ".join(image["Healthcheck"]["Test"])  # kept: Docker's format


def test_the_image_serves_the_avito_walkthrough_and_keeps_its_data_across_a_restart(
    images: str, tmp_path: Path
) -> None:
    made = pm.Made()
    name = made.add("container", f"{pm.PREFIX}-alone")
    volume = made.add("volume", f"{pm.PREFIX}-alone-data")
    port = free_port()
    run = ["run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:9000"]
    try:
        assert made.remove() == []
        pm.podman("volume", "create", volume)
        pm.podman(*run, "--volume", f"{volume}:/data", images)
        pm.wait_until(f"{name} healthy", lambda: pm.healthy(name), timeout=60)
        assert pm.podman("exec", name, "id", "-u").strip() == "10001"
        run_walkthrough(f"127.0.0.1:{port}", tmp_path / "reader")

        url = f"http://127.0.0.1:{port}"
        pm.podman("restart", "--time", "10", name)
        pm.wait_until(f"{name} healthy again", lambda: pm.healthy(name), timeout=60)
        assert "chatd.db" in pm.podman("exec", name, "ls", "/data").split()
        assert walkthrough_messages(url) == ["hi", "hello", "how are you?"]
        assert httpx.post(f"{url}/users/add", json={"username": "user_1"}).status_code == 409

        # A new container on the same volume (an upgrade): the data is in the volume.
        pm.podman("rm", "--force", "--time", "10", name)
        pm.podman(*run, "--volume", f"{volume}:/data", images)
        pm.wait_until(f"{name} healthy, replaced", lambda: pm.healthy(name), timeout=60)
        assert walkthrough_messages(url) == ["hi", "hello", "how are you?"]
    finally:
        assert made.remove_all() == []


# The compose stack


@pytest.fixture(scope="module")
def stack(images: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    made = pm.Made()
    stack = Stack(PROJECT, images, free_port(), made, tmp_path_factory.mktemp("compose"))
    try:
        assert made.remove() == []
        stack.up()
        yield stack
    finally:
        stack.down(volumes=True)
        assert made.remove_all() == []


async def test_a_message_sent_through_one_replica_reaches_a_websocket_held_by_the_other(
    stack: Stack,
) -> None:
    one, other = stack.replica_urls()
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=f"{one}/api/v1", timeout=10) as api:
        ids, tokens = [], []
        for who in ("alice", "bob"):
            login = {"username": f"{who}-{run}", "password": "correct horse"}
            ids.append((await api.post("/users", json=login)).raise_for_status().json()["id"])
            answer = (await api.post("/auth/tokens", json=login)).raise_for_status()
            tokens.append(answer.json()["token"])
        alice = {"Authorization": f"Bearer {tokens[0]}"}
        body = {"name": f"across-{run}", "users": [ids[1]]}
        chat = (await api.post("/chats", json=body, headers=alice)).raise_for_status().json()
        async with stream(other, tokens[1]) as bobs_stream:
            path = f"/chats/{chat['id']}/messages"
            sent = await api.post(path, json={"text": "across"}, headers=alice)
            assert sent.status_code == 201
            event = await next_event(bobs_stream, "message.created")
    assert event["message"]["id"] == sent.json()["id"]
    assert event["message"]["text"] == "across"
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (one, other):
            ready = (await http.get(f"{url}/readyz")).json()
            assert ready["checks"]["broker"] == {"status": "connected", "broker": "redis"}


async def test_a_replica_killed_mid_load_loses_no_acknowledged_message(stack: Stack) -> None:
    victim, survivor = stack.replicas()
    stack.wait_balanced()
    run = uuid.uuid4().hex[:8]
    acked: list[str] = []
    unacked: list[str] = []
    loaded = asyncio.Event()  # set at 150 acknowledged sends: the moment to kill
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as lb:
        users = []
        for who in ("a", "b"):
            answer = await lb.post("/users/add", json={"username": f"load-{who}-{run}"})
            users.append(answer.raise_for_status().json()["id"])
        answer = await lb.post("/chats/add", json={"name": f"load-{run}", "users": users})
        chat = answer.raise_for_status().json()["id"]

        async def send(worker: int) -> None:
            for n in range(40):
                text = f"{run}-{worker}-{n}"
                body = {"chat": chat, "author": users[n % 2], "text": text}
                try:
                    answer = await lb.post("/messages/add", json=body)
                except httpx.TransportError:
                    unacked.append(text)
                    continue
                (acked if answer.status_code == 201 else unacked).append(text)
                if len(acked) >= 150:
                    loaded.set()

        senders = [asyncio.create_task(send(worker)) for worker in range(16)]
        await asyncio.wait_for(loaded.wait(), 60)
        kill = await asyncio.create_subprocess_exec(
            "podman", *pm.GLOBAL_FLAGS, "kill", victim, stdout=asyncio.subprocess.DEVNULL
        )
        assert await kill.wait() == 0
        acked_at_kill = len(acked)
        await asyncio.gather(*senders)

    print(f"acknowledged {len(acked)} ({acked_at_kill} before the kill), not {len(unacked)}")
    assert len(acked) + len(unacked) == 640
    assert len(acked) > acked_at_kill + 100, "the load went on through the other replica"
    assert "POST /messages/add 201" in pm.logs(victim), "the victim served sends"
    async with httpx.AsyncClient(base_url=stack.replica_url(survivor), timeout=30) as other:
        stored = (await other.post("/messages/get", json={"chat": chat})).json()
    counts = Counter(m["text"] for m in stored)
    assert [t for t in acked if counts[t] != 1] == []
    assert [t for t, n in counts.items() if n > 1] == []
    assert set(counts) <= set(acked) | set(unacked)


def test_down_then_up_keeps_every_message(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=stack.url, timeout=10) as lb:
        user = lb.post("/users/add", json={"username": f"kept-{run}"}).raise_for_status().json()
        body = {"name": f"kept-{run}", "users": [user["id"]]}
        chat = lb.post("/chats/add", json=body).raise_for_status().json()["id"]
        for n in range(20):
            body = {"chat": chat, "author": user["id"], "text": f"kept {n}"}
            lb.post("/messages/add", json=body).raise_for_status()
        before = lb.post("/messages/get", json={"chat": chat}).raise_for_status().json()
    every_message = stack.count_messages()
    assert len(before) == 20

    stack.down(volumes=False)
    stack.up()

    with httpx.Client(base_url=stack.url, timeout=10) as lb:
        after = lb.post("/messages/get", json={"chat": chat}).raise_for_status().json()
    assert after == before
    assert stack.count_messages() == every_message
