"""docs/events/*.json, the published schema of each frame type, is exactly what the server's
frame models say (the stream tests validate every frame they receive against these files)."""

from __future__ import annotations

from pathlib import Path

from chatd.api.v1 import frames
from chatd.core import events

DOCS = Path(__file__).parents[2] / "docs" / "events"


def test_every_event_type_has_a_published_schema() -> None:
    assert set(frames.EVENTS) == set(events.TYPES)
    assert {p.name for p in DOCS.glob("*.json")} == set(frames.schemas())


def test_the_published_schemas_are_the_servers() -> None:
    stale = [
        name for name, content in frames.schemas().items() if (DOCS / name).read_bytes() != content
    ]
    assert stale == [], "regenerate: python -m chatd.api.v1.frames docs/events"
