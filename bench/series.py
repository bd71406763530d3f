"""Series of runs, measured round-robin.

Two cores are shared by the load generator, the server, the database and whatever else runs on
the machine; throughput drifts by 10-20% over minutes. A target compares a measurement with a
reference, so both are measured in alternation: run 1 of every series, then run 2 of every
series, and so on. Drift then hits a measurement and its reference alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.load import Load
from bench.measurements import Measurement, Results, Run


@dataclass(frozen=True)
class Series:
    system: str
    scenario: str
    connections: int
    run: Callable[[float], Run]  # seconds -> one run


def measure(series: Sequence[Series], load: Load, results: Results) -> list[Measurement]:
    """One warm-up run of each series (discarded), then `load.repeats` rounds of all of them."""
    if load.warmup_seconds > 0:
        for s in series:
            s.run(load.warmup_seconds)
    runs: list[list[Run]] = [[] for _ in series]
    for _round in range(load.repeats):
        for s, done in zip(series, runs, strict=True):
            done.append(s.run(load.seconds))
    measured = []
    for s, done in zip(series, runs, strict=True):
        measured.append(results.add(Measurement(s.system, s.scenario, s.connections, tuple(done))))
        print_progress(measured[-1])
    return measured


def print_progress(m: Measurement) -> None:
    p50 = "" if m.p50_ms is None else f"  p50 {m.p50_ms:7.2f} ms"
    p99 = "" if m.p99_ms is None else f"  p99 {m.p99_ms:7.2f} ms"
    errors = f"  ERRORS {m.errors}" if m.errors else ""
    print(
        f"  {m.system:<11} {m.scenario:<45} c={m.connections:<3} "
        f"{m.requests_per_s:9.0f}/s{p50}{p99}{errors}",
        flush=True,
    )
