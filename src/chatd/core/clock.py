"""The time chatd stamps on what it stores (one place to read, and one to fake in tests), and the
one way a time is written out.

Times go out as RFC 3339 in UTC with six fraction digits ("2026-11-25T12:00:00.123456Z"): in
every API, in the documents the writes store for the reads (storage/records.py), in the logs.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """`value` as RFC 3339 text in UTC, always with six fraction digits. (orjson writes aware
    UTC datetimes the same way, except on a whole second: api/render.py uses it for speed and
    this for those; tests/api/test_times.py holds every writer to the same strings.)"""
    utc = value.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )
