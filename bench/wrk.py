"""Drives an HTTP server with wrk and a Lua script from bench/lua; reads the JSON line it prints.

Every script gets lua/report.lua appended: its done() prints the latency percentiles as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.measurements import Run
from bench.series import Series

LUA = Path(__file__).parent / "lua"
MARKER = "BENCH_RESULT "


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: run `bash bench/install-tools`")
    return path


def _script(name: str, directory: Path) -> Path:
    path = directory / name
    if not path.exists():
        path.write_text((LUA / name).read_text() + "\n" + (LUA / "report.lua").read_text())
    return path


def run_wrk(url: str, script: str, args: Sequence[str], connections: int, seconds: float) -> Run:
    """One wrk run. One wrk thread: the second core is the server's (see docs/benchmarks.md)."""
    with tempfile.TemporaryDirectory(prefix="chatd-wrk-") as tmp:
        argv = [
            wrk_path(),
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(_script(script, Path(tmp))),
            url,
            "--",
            *args,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result line:\n{done.stdout}\n{done.stderr}")
    errors = sum(
        data[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return Run(
        requests_per_s=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        requests=data["requests"],
        errors=errors,
    )


def fixed(*args: str) -> Callable[[], Sequence[str]]:
    """The same script arguments for every run."""
    return lambda: args


def wrk_series(
    system: str,
    scenario: str,
    url: str,
    script: str,
    args: Callable[[], Sequence[str]],
    connections: int,
) -> Series:
    """`args` is called before each run: a run that creates names needs a fresh tag."""

    def run(seconds: float) -> Run:
        return run_wrk(url, script, args(), connections, seconds)

    return Series(system, scenario, connections, run)
