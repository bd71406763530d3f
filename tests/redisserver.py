"""A throwaway redis-server for tests and benchmarks, which a test can kill, pause (SIGSTOP: a
hung server that still accepts connections) and start again on the same port."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from tests.pgcluster import free_port


@dataclass
class RedisServer:
    port: int = field(default_factory=free_port)
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="chatd-redis-"))
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Starts the server on its port (picking another if that one is taken at the first
        start) and returns once it accepts connections."""
        for _attempt in range(5):
            if self._launch():
                return self
            if self.process is not None and self.process.poll() is not None:
                self.port = free_port()  # someone else took the port
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _launch(self) -> bool:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed (.ci/run installs Debian's)")
        self.process = subprocess.Popen(
            [
                *(server, "--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.01)
        self.kill()
        return False

    def kill(self) -> None:
        """Kills the server (SIGKILL): connections drop, nothing answers on the port."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and new ones are accepted, but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
