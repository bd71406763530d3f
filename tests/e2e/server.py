"""Runs the real `chatd serve` as a subprocess on a free port (Datasette's pattern)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.pgcluster import free_port

CHATD = Path(sys.executable).parent / "chatd"


class ServerProcess:
    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.env = env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.port = free_port()
        env = {**os.environ, **self.env, "CHATD_LOG_LEVEL": "warning"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(CHATD),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.database_url,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Its own process group: kill() reaches the workers of `--workers N` too, which
                # a SIGKILL to uvicorn's supervisor alone would leave running.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chatd exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                httpx.post(f"{self.url}/chats/get", json={"user": 1}, timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"chatd did not answer in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an operator would do it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9, of the server and any worker it started: no chance to flush or close
        anything."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
