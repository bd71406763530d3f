"""The time chatd stamps on what it stores: one place to read (and one to fake in tests)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
