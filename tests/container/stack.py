"""compose.yaml's stack under podman-compose, with tests/container/compose.debian.yaml's images.

Each chatd replica is reached at its address on the stack's network (the host, as root, routes
to podman's bridge), HAProxy at the published port and, for its view of the replicas, at its
stats page on the network.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.container import podman as pm

COMPOSE_FILES = [pm.ROOT / "compose.yaml", pm.HERE / "compose.debian.yaml"]
REPLICAS = 2  # compose.yaml's deploy.replicas
# Variables compose.yaml reads, which the machine's environment must not set for the test.
OWN_VARIABLES = ("POSTGRES_PASSWORD", "CHATD_AVITO_API", "CHATD_AVITO_API_KEY")


class Stack:
    def __init__(self, project: str, image: str, port: int, made: pm.Made, workdir: Path):
        self.project = project
        self.port = port
        self.made = made
        # podman-compose calls podman itself: through a wrapper, with this machine's flags.
        self.podman_path = workdir / "podman"
        self.podman_path.write_text(f'#!/bin/sh\nexec podman {" ".join(pm.GLOBAL_FLAGS)} "$@"\n')
        self.podman_path.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if k not in OWN_VARIABLES}
        self.env |= {"CHATD_IMAGE": image, "CHATD_PUBLISHED_PORT": str(port)}
        for name in self.containers():
            made.add("container", name)
        for volume in ("postgres-data", "redis-data"):
            made.add("volume", f"{project}_{volume}")
        made.add("network", f"{project}_default")

    @property
    def url(self) -> str:
        """Through the load balancer, as users reach the stack."""
        return f"http://127.0.0.1:{self.port}"

    def container(self, service: str, number: int = 1) -> str:
        return f"{self.project}_{service}_{number}"

    def replicas(self) -> list[str]:
        return [self.container("chatd", n) for n in range(1, REPLICAS + 1)]

    def containers(self) -> list[str]:
        return [*map(self.container, ["postgres", "redis", "haproxy"]), *self.replicas()]

    def address(self, container: str) -> str:
        networks = pm.inspect(container)["NetworkSettings"]["Networks"]
        address: str = networks[f"{self.project}_default"]["IPAddress"]
        return address

    def replica_url(self, container: str) -> str:
        return f"http://{self.address(container)}:9000"

    def replica_urls(self) -> list[str]:
        return [self.replica_url(c) for c in self.replicas()]

    def compose(self, *args: str) -> None:
        files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
        command = ["podman-compose", "--podman-path", str(self.podman_path), "-p", self.project]
        done = subprocess.run(
            [*command, *files, *args],
            cwd=pm.ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def up(self) -> None:
        """`up`, then waits until every replica is healthy and the load balancer answers."""
        self.compose("up", "--detach", "--no-build")
        # Anonymous volumes, from an image's VOLUME that compose.yaml mounts nothing on (the
        # replicas' /data: their data is in PostgreSQL); `down` leaves them.
        for container in self.containers():
            for mount in pm.inspect(container)["Mounts"]:
                if mount["Type"] == "volume" and not mount["Name"].startswith(self.project):
                    self.made.add("volume", mount["Name"])
        for replica in self.replicas():
            pm.wait_until(f"{replica} healthy", partial(pm.healthy, replica), timeout=120)
        pm.wait_until("the load balancer serves", self.balancer_serves, timeout=60)

    def down(self, *, volumes: bool) -> None:
        self.compose("down", "--timeout", "10", *(["--volumes"] if volumes else []))

    def balancer_serves(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def replicas_in_rotation(self) -> int:
        """How many chatd servers HAProxy has UP (its template's unused slots are in MAINT)."""
        stats = httpx.get(f"http://{self.address(self.container('haproxy'))}:8404/stats;csv")
        rows = csv.DictReader(stats.text.removeprefix("# ").splitlines())
        servers = [r for r in rows if r["pxname"] == "chatd" and r["svname"] != "BACKEND"]
        return sum(1 for r in servers if r["status"] == "UP")

    def wait_balanced(self) -> None:
        pm.wait_until(
            "both replicas in rotation", lambda: self.replicas_in_rotation() == REPLICAS, 60
        )

    def count_messages(self) -> int:
        """Every message in PostgreSQL, whichever API or chat it came through."""
        sql = ["psql", "-h", "127.0.0.1", "-U", "chatd", "-d", "chatd", "-At"]
        out = pm.podman(
            "exec",
            "--env",
            "PGPASSWORD=chatd",
            self.container("postgres"),
            *sql,
            "-c",
            "SELECT count(*) FROM messages",
        )
        return int(out)


@asynccontextmanager
async def stream(url: str, token: str) -> AsyncIterator[ClientConnection]:
    """The WebSocket stream of `url`'s replica, authenticated and ready."""
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(f"ws{url.removeprefix('http')}/api/v1/ws", additional_headers=headers) as ws:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ready["type"] == "ready", ready
        yield ws


async def next_event(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next event of that type, within 10 s (the broker takes milliseconds, the sweep 0.5 s)."""
    async with asyncio.timeout(10):
        while True:
            event: dict[str, Any] = json.loads(await ws.recv())
            if event["type"] == kind:
                return event
