"""`python -m bench`: chatd under load on SQLite and PostgreSQL, against references from the
same run (HTTP ceiling, pgbench, a single-thread SQLite loop). See docs/benchmarks.md.

    python -m bench [--quick] [--only ceiling,sqlite,postgresql,workers,index,sockets]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.databases import PostgresDatabase, SqliteDatabase
from bench.index_cost import index_cost_table, index_costs, run_index_cost
from bench.load import Load
from bench.measurements import Results
from bench.pgbench import pgbench_series
from bench.report import judge, measurements_table, targets_table
from bench.scenarios import run_ceiling, run_chatd
from bench.seed import Seeded
from bench.series import Series
from bench.servers import ceiling_server
from bench.sockets import Row, run_sockets, table
from bench.sqlite_loop import sqlite_loop_series
from bench.workers import run_workers, scaling, scaling_table
from bench.wrk import wrk_path

PARTS = ("ceiling", "sqlite", "postgresql", "workers", "index", "sockets")
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "latest.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run per scenario")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated subset of {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--seconds", type=float, help="seconds per measured run")
    parser.add_argument("--repeats", type=int, help="measured runs per scenario (median)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}")
    return args


def load_for(args: argparse.Namespace) -> Load:
    load = Load.quick() if args.quick else Load()
    if args.seconds is not None:
        load = Load(load.connections, args.seconds, load.warmup_seconds, load.repeats)
    if args.repeats is not None:
        load = Load(load.connections, load.seconds, load.warmup_seconds, args.repeats)
    return load


def run_sqlite(workdir: Path, load: Load, results: Results, ceiling_url: str) -> None:
    print("== chatd on SQLite", flush=True)
    database = SqliteDatabase(workdir / "sqlite" / "chatd.db")
    database.path.parent.mkdir()

    def references(seeded: Seeded) -> list[Series]:
        return sqlite_loop_series(database.path, seeded)

    run_chatd(database, workdir, load, results, ceiling_url, references)


def run_postgresql(
    workdir: Path, load: Load, results: Results, ceiling_url: str, machine: dict[str, Any]
) -> None:
    print("== chatd on PostgreSQL (durable defaults)", flush=True)
    database = PostgresDatabase()
    try:
        database.start()
        machine["postgresql"] = database.settings()

        def references(seeded: Seeded) -> list[Series]:
            return pgbench_series(database, seeded, workdir, load)

        run_chatd(database, workdir, load, results, ceiling_url, references)
    finally:
        database.stop()


def machine_facts() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False)
    return {
        "chatd_commit": _commit(),
        "cpu_busy_before_start_pct": _cpu_busy_percent(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0],
    }


def _commit() -> str:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    return described.stdout.strip()


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def _cpu_busy_percent(seconds: float = 1.0) -> float:
    """How busy the whole machine is while the bench does nothing (load average lags a minute)."""
    busy_before, total_before = _cpu_times()
    time.sleep(seconds)
    busy_after, total_after = _cpu_times()
    return round(100 * (busy_after - busy_before) / max(1, total_after - total_before), 1)


def _raise_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Unwind through every `finally`: servers and the cluster are stopped on the way out.
    raise SystemExit(128 + signum)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    # Also when started in the background, where a shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    load = load_for(args)
    results = Results()
    machine = machine_facts()
    if machine["cpu_busy_before_start_pct"] > 20:
        # Everything here shares 2 cores: another job running meanwhile skews every figure.
        busy = machine["cpu_busy_before_start_pct"]
        print(f"warning: the CPUs are {busy}% busy before the bench starts", flush=True)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="chatd-bench-"))
    # The ceiling the reads are compared with: up (and idle) all along, measured beside them.
    ceiling = ceiling_server("asgi", workdir / "ceiling-beside.log")
    sockets: list[Row] = []
    try:
        if "ceiling" in args.parts:
            print("== orientation: HTTP ceiling, FastAPI and bare ASGI", flush=True)
            run_ceiling(workdir, load, results)
        if "sqlite" in args.parts or "postgresql" in args.parts:
            ceiling.start()
        if "sqlite" in args.parts:
            run_sqlite(workdir, load, results, ceiling.url)
        if "postgresql" in args.parts:
            run_postgresql(workdir, load, results, ceiling.url, machine)
        if "workers" in args.parts:
            run_workers(workdir, load, results)
        if "index" in args.parts:
            run_index_cost(workdir, load, results)
        if "sockets" in args.parts:
            print("== idle WebSocket streams and fan-out (bench/sockets.py)", flush=True)
            sockets = run_sockets(workdir, args.quick)
    finally:
        ceiling.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if _commit() != machine["chatd_commit"]:
        # chatd is installed editable: servers started later ran the newer code.
        machine["chatd_commit_at_end"] = _commit()
        print(
            f"warning: the code changed during the run ({machine['chatd_commit']} -> "
            f"{machine['chatd_commit_at_end']})",
            flush=True,
        )
    verdicts = [v for v in judge(results) if v.passed is not None]
    workers = scaling(results)
    indexing = index_costs(results)
    report = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started),
        "quick": args.quick,
        "parts": args.parts,
        "load": vars(load) | {"connections": list(load.connections)},
        "machine": machine,
        "measurements": [m.as_json() for m in results.measurements],
        "targets": [v.as_json() for v in verdicts],
        "workers": [row.as_json() for row in workers],
        "search_index_cost": [row.as_json() for row in indexing],
        "sockets": [row.as_json() for row in sockets],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n## Targets\n\n{targets_table(verdicts)}")
    print(f"\n## Measurements\n\n{measurements_table(results.measurements)}")
    if workers:
        print(f"\n## --workers 2 against one process\n\n{scaling_table(workers)}")
    if indexing:
        print(f"\n## What the search index costs a send\n\n{index_cost_table(indexing)}")
    if sockets:
        print(f"\n## Idle streams and fan-out\n\n{table(sockets)}")
    print(f"\n{report['seconds']} s; results in {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every server and cluster started was stopped", file=sys.stderr)
        sys.exit(130)
