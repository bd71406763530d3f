from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatd.config import Settings
from tests.api.v1_helpers import Api, open_api


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app under test with its client (v1 tests reach into the app for roles and rows)."""
    async with open_api(settings) as opened:
        yield opened
