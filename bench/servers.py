"""HTTP servers under test, each a subprocess on a free 127.0.0.1 port, stopped by its PID.

`chatd serve` is the real server; bench.ceiling is the same stack without storage.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.pgcluster import free_port

CHATD = Path(sys.executable).parent / "chatd"
STOP_TIMEOUT = 15.0


class ServerProcess:
    """A server started from `argv(port)`; it is up once `probe_path` answers any HTTP status."""

    def __init__(
        self,
        argv: Callable[[int], list[str]],
        log_path: Path,
        probe_path: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.log_path = log_path
        self.probe_path = probe_path
        self.env = {**os.environ, **(env or {})}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        for _attempt in range(3):  # another process may take the free port before we bind it
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    self.argv(self.port), stdout=log, stderr=subprocess.STDOUT, env=self.env
                )
            if self._wait_until_up(timeout):
                return self
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    def _wait_until_up(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("POST", self.probe_path, body=b"{}")
                conn.getresponse().read()
                conn.close()
                return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGTERM to our child's PID; SIGKILL if it does not exit in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def chatd_server(database_url: str, log_path: Path, **env: str) -> ServerProcess:
    def argv(port: int) -> list[str]:
        return [
            str(CHATD),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            database_url,
        ]

    return ServerProcess(argv, log_path, "/chats/get", env={"CHATD_LOG_LEVEL": "warning", **env})


def ceiling_server(app: str, log_path: Path) -> ServerProcess:
    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "bench.ceiling", app, "--port", str(port)]

    return ServerProcess(argv, log_path, "/ceiling")
