"""What routes take from the running app: the store and the settings (set up by app.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatd.config import Settings
from chatd.core.ports import Store


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
