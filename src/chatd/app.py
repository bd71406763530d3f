"""create_app(settings): wires storage and the HTTP APIs. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatd import __version__
from chatd.api import avito, errors
from chatd.api.limits import BodySizeLimit
from chatd.config import Settings
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore


def create_app(settings: Settings) -> FastAPI:
    """The ASGI app. The schema must already be migrated (`chatd serve` does it first)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings)
        app.state.store = SqlStore(database)
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="chatd",
        version=__version__,
        description="A self-hostable chat server. The Avito chat API, and more.",
        lifespan=lifespan,
        # A trailing slash is another path: answer it with our JSON 404, not an empty 307.
        redirect_slashes=False,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(avito.router)
    return app
