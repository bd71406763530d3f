"""How hard and how long to push: one `Load` for a whole bench run (full or --quick)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    connections: tuple[int, ...] = (16, 64)
    seconds: float = 5.0
    warmup_seconds: float = 1.0
    repeats: int = 3

    @classmethod
    def quick(cls) -> Load:
        return cls(seconds=2.0, warmup_seconds=0.5, repeats=1)
