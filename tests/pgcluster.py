"""A throwaway PostgreSQL 15 cluster for tests and benchmarks.

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres` user in
a directory that user can reach (pytest's tmp_path is mode 0700 under root's tree, so it cannot).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("CHATD_PG_BIN", "/usr/lib/postgresql/15/bin"))

# Safe only for data we throw away: never use these for durability tests or benchmarks.
FAST_UNSAFE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(argv: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return list(argv)


@dataclass
class PgCluster:
    settings: Sequence[str] = FAST_UNSAFE
    root: Path = field(init=False)
    port: int = field(init=False, default=0)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PgCluster:
        self.root = Path(tempfile.mkdtemp(prefix="chatd-pg-"))
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-U",
                    "postgres",
                    "-D",
                    str(self.data),
                ]
            ),
            check=True,
            capture_output=True,
        )
        for _attempt in range(5):  # another process may take the free port before we do
            self.port = free_port()
            if self._pg_ctl_start():
                return self
        raise RuntimeError(f"PostgreSQL did not start:\n{self._log_tail()}")

    def stop_server(self) -> None:
        """Stops the server the way a crash would (immediate mode), keeping its data."""
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            check=True,
            capture_output=True,
        )

    def start_server(self) -> None:
        """Starts a stopped server again on the same port and data (clients reconnect to it)."""
        self._wait_for_old_processes()
        self._remove_stale_lock()
        if not self._pg_ctl_start():
            raise RuntimeError(f"PostgreSQL did not start again:\n{self._log_tail()}")

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def postmaster_pid(self) -> int:
        """The running postmaster's pid: the first line of the data directory's postmaster.pid."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def kill_postmaster(self) -> None:
        """kill -9 of the postmaster itself: a crash, not a shutdown. Its backends live on until
        they notice (start_server waits for them)."""
        os.kill(self.postmaster_pid(), signal.SIGKILL)

    def _wait_for_old_processes(self, timeout: float = 30.0) -> None:
        # Backends orphaned by a killed postmaster still hold the old shared memory, and a new
        # postmaster refuses to start while they do.
        deadline = time.monotonic() + timeout
        while self._processes_in_data():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL processes outlived their postmaster by {timeout}s")
            time.sleep(0.02)

    def _remove_stale_lock(self) -> None:
        # Called with nothing left running in the directory. A killed postmaster leaves its lock
        # files, and its pid lives on as a zombie where nothing reaps it (a new postmaster would
        # take it for a running one); its small SysV segment (line 7: key, id) would leak.
        lock = self.data / "postmaster.pid"
        try:
            lines = lock.read_text().splitlines()
        except FileNotFoundError:
            return
        if len(lines) >= 7 and len(lines[6].split()) == 2:
            subprocess.run(["ipcrm", "-m", lines[6].split()[1]], capture_output=True)
        (self.root / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        lock.unlink()

    def _processes_in_data(self) -> list[int]:
        """Every process working in the data directory (each server process's cwd)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "cwd") == str(self.data):
                        found.append(int(entry.name))
                except OSError:  # gone meanwhile, or not ours to read
                    continue
        return found

    def _pg_ctl_start(self) -> bool:
        options = " ".join(f"-c {s}" for s in self.settings)
        started = subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.root / "log"),
                    "start",
                    "-o",
                    f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                    f"-c max_connections=300 {options}",
                ]
            ),
            capture_output=True,
        )
        return started.returncode == 0

    def _log_tail(self) -> str:
        return (self.root / "log").read_text(errors="replace")[-3000:]

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def stop(self) -> None:
        if self.port:
            subprocess.run(
                _as_postgres(
                    [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)
