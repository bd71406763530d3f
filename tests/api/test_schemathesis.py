"""The server keeps to its own /openapi.json: schemathesis over every operation of both APIs,
bounded for the normal suite (tests/fuzz.py holds the run and says how; `make fuzz` is the long
one). Deterministic: a fixed seed, derandomized Hypothesis, no example database, one worker."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests import fuzz

MAX_EXAMPLES = 150  # per operation and phase: ~4,300 requests, ~30 s here


def test_every_operation_keeps_to_the_schema(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    shutil.copyfile(sqlite_template, path)
    report = fuzz.run(fuzz.settings_for(f"sqlite:///{path}"), max_examples=MAX_EXAMPLES, seed=0)
    assert not report.failures, report.summary()
    assert not report.errors, report.summary()
    # Every phase ran and reached the server.
    assert set(report.by_phase) == set(fuzz.PHASES), report.summary()
    assert min(report.by_phase.values()) > 0, report.summary()
