"""Measurements: one load scenario's repeated runs, summarised by their medians."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Run:
    """One run of a load generator. Latencies in milliseconds; None when the tool gives none."""

    requests_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    requests: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Measurement:
    """`system` ran `scenario` at `connections` (1 for a single-thread loop), `runs` times."""

    system: str
    scenario: str
    connections: int
    runs: tuple[Run, ...]
    notes: str = ""

    @property
    def requests_per_s(self) -> float:
        return statistics.median(r.requests_per_s for r in self.runs)

    @property
    def p50_ms(self) -> float | None:
        return _median([r.p50_ms for r in self.runs])

    @property
    def p99_ms(self) -> float | None:
        return _median([r.p99_ms for r in self.runs])

    @property
    def mean_ms(self) -> float | None:
        return _median([r.mean_ms for r in self.runs])

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "scenario": self.scenario,
            "connections": self.connections,
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": _round(self.p50_ms),
            "p99_ms": _round(self.p99_ms),
            "mean_ms": _round(self.mean_ms),
            "errors": self.errors,
            "notes": self.notes,
            "runs": [asdict(r) for r in self.runs],
        }


@dataclass
class Results:
    """Everything one `python -m bench` measured, in the order it was measured."""

    measurements: list[Measurement] = field(default_factory=list)

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    def find(self, system: str, scenario: str, connections: int) -> Measurement | None:
        for m in self.measurements:
            if (m.system, m.scenario, m.connections) == (system, scenario, connections):
                return m
        return None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
