"""What routes take from the running app: the store and the settings (set up by app.py).

Plain functions of the request rather than FastAPI dependencies: resolving a dependency costs
more per request than these attribute reads, and the hot Avito routes answer thousands a second.
"""

from __future__ import annotations

from fastapi import Request

from chatd.config import Settings
from chatd.core.ports import Store


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
