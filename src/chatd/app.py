"""create_app(settings): wires storage and the HTTP APIs. Nothing is created at import time."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from chatd import __version__
from chatd.api import avito, errors, health, metrics, v1, web
from chatd.api.access_log import AccessLog
from chatd.api.fastpath import ROUTES, AvitoFastPath
from chatd.api.idempotency import Idempotency
from chatd.api.limits import BodySizeLimit
from chatd.api.methods import HeadAsGet
from chatd.api.metrics import RequestMetrics
from chatd.api.ratelimit import RateLimits
from chatd.api.schemas import settle
from chatd.api.v1.schemas import IDEMPOTENCY_KEY
from chatd.api.v1.stream import StreamEndpoint
from chatd.config import Settings
from chatd.core import clock
from chatd.core.accounts import Accounts
from chatd.core.writes import do_prune_changes, do_purge_idempotency_keys
from chatd.metrics import count as count_metrics
from chatd.passwords import Argon2Hasher
from chatd.realtime.broker import open_broker
from chatd.realtime.hub import Hub
from chatd.realtime.presence import Presence
from chatd.realtime.typing import Typing
from chatd.storage import revisions
from chatd.storage.database import Database, open_database
from chatd.storage.presence import SqlPresence
from chatd.storage.store import SqlChangeLog, SqlStore

log = logging.getLogger("chatd")
PURGE_EVERY = 600.0
PRUNE_EVERY = 3600.0
_SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"


def build_accounts(store: SqlStore, settings: Settings) -> Accounts:
    """The account use cases, with the configured hashing cost and token lifetime."""
    hasher = Argon2Hasher(settings.argon2_profile)
    return Accounts(store, hasher, timedelta(days=settings.token_ttl_days))


def create_app(settings: Settings) -> FastAPI:
    """The ASGI app. The schema must already be migrated (`chatd serve` does it first)."""
    count_metrics(settings.metrics != "off")  # off: the instruments cost nothing either

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings)
        hub = Hub(
            open_broker(settings.broker_url, settings.database_url),
            SqlChangeLog(database),
            settings.stream_sweep_seconds,
        )
        await hub.start()
        store = SqlStore(database, notifier=hub, lanes=settings.lanes)  # commits are published
        app.state.store = store
        app.state.hub = hub
        app.state.typing = Typing(hub)
        app.state.presence_store = SqlPresence(database)
        presence = Presence(
            hub,
            app.state.presence_store,
            store.user_chat_ids,
            settings.presence_grace_seconds,
            settings.presence_ttl_seconds,
        )
        app.state.presence = presence
        await presence.start()
        app.state.accounts = build_accounts(store, settings)
        app.state.readiness = health.ReadinessCheck(_probes(settings, database, hub))
        chores = [
            asyncio.create_task(_purge_idempotency_keys(store, settings)),
            asyncio.create_task(_prune_changes(store, settings)),
        ]
        try:
            yield
        finally:
            # After uvicorn's graceful shutdown (api/shutdown.py): the writes still queued (a
            # chore's, or those of requests cut off at CHATD_SHUTDOWN_TIMEOUT) commit first,
            # and publish to the hub, which goes next; the database last.
            for chore in chores:
                chore.cancel()
            await store.close()
            await presence.close()
            await hub.close()
            await database.dispose()
            await app.state.rate_limits.close()  # its Redis connections, if any

    app = FastAPI(
        title="chatd",
        version=__version__,
        description="A self-hostable chat server. The Avito chat API, and more.",
        lifespan=lifespan,
        # A trailing slash is another path: answer it with our JSON 404, not an empty 307.
        redirect_slashes=False,
        # /docs is served below from local files: a self-hosted server may have no internet.
        docs_url=None,
        redoc_url=None,
        # chatd exports no OpenTelemetry. FastAPI looks up the global providers on every request
        # to see whether it should: ~10% of the event loop's time under a send load (py-spy).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    _serve_docs(app)
    web.serve_client(app)
    app.state.settings = settings
    app.state.rate_limits = RateLimits(settings)
    errors.install(app)
    # The first added runs innermost: both run inside the body limit (bodies already bounded);
    # the Avito fast path answers its five POSTs before FastAPI's routing.
    app.add_middleware(HeadAsGet)  # HEAD wherever GET is (FastAPI's routes answer no HEAD)
    # CHATD_AVITO_API=off: neither the fast path nor the routes, so its paths are as unknown
    # as any; =key: the fast path checks the key for every method on them (api/fastpath.py).
    avito_api = settings.avito_api != "off"
    if avito_api:
        key = settings.avito_api_key if settings.avito_api == "key" else ""
        app.add_middleware(AvitoFastPath, key=key)
    app.add_middleware(Idempotency)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(StreamEndpoint)  # a socket keeps no other middleware's frame
    if settings.metrics != "off":  # off: not a cost on any request
        app.add_middleware(RequestMetrics, fast_paths=ROUTES if avito_api else ())
    app.add_middleware(AccessLog)  # outermost, to time it all; a socket passes with no frame
    if avito_api:
        app.include_router(avito.router)
    app.include_router(v1.router)
    app.include_router(health.router)
    if settings.metrics != "off":
        app.include_router(metrics.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, completed with what no route declares: chatd answers invalid requests
    with 400 and the common error shape (api/errors.py), never FastAPI's 422; every v1 write
    takes an Idempotency-Key (api/idempotency.py: 422 when reused for another request, 409
    while its twin runs); any request may find the database out of reach (503); and the
    longest text is a setting."""
    if app.openapi_schema is None:
        # A copy: the Avito bodies are their routes' own dicts (openapi_extra), shared by apps.
        schema = copy.deepcopy(
            get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
        )

        def error(description: str) -> dict[str, Any]:
            ref = {"$ref": "#/components/schemas/ErrorOut"}
            return {"description": description, "content": {"application/json": {"schema": ref}}}

        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                responses = operation["responses"]
                responses.pop("422", None)  # FastAPI's validation errors: chatd answers 400
                if path.startswith("/api/v1/") and method in ("post", "put", "patch", "delete"):
                    operation.setdefault("parameters", []).append(copy.deepcopy(IDEMPOTENCY_KEY))
                    responses.setdefault("409", error("Another request with this key runs"))
                    responses["422"] = error("An Idempotency-Key reused for another request")
                # /readyz documents its own 503 (api/health.py).
                responses.setdefault(
                    "503",
                    error(
                        "The database is out of reach: nothing was changed, or, with the code "
                        "outcome_unknown, the change may have been made"
                    ),
                )
        settle(schema, app.state.settings)
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        if app.state.settings.avito_api == "key":
            avito.document_key(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _probes(settings: Settings, database: Database, hub: Hub) -> health.Probes:
    scripts = revisions.scripts()
    scheme = settings.broker_url.partition(":")[0]
    broker: Literal["memory", "postgres", "redis"] = (
        "memory" if scheme == "memory" else "redis" if scheme.startswith("redis") else "postgres"
    )
    return health.Probes(
        database_revisions=lambda: revisions.database_revisions(database),
        head=scripts.heads,
        known=scripts.known,
        broker=broker,
        broker_connected=lambda: hub.broker.connected,
    )


async def _purge_idempotency_keys(store: SqlStore, settings: Settings) -> None:
    """Forgets idempotency keys past their lifetime, every PURGE_EVERY seconds."""
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    while True:
        await asyncio.sleep(PURGE_EVERY)
        try:
            purged = await store.write(None, do_purge_idempotency_keys, clock.now() - ttl)
            log.debug("purged %d expired idempotency keys", purged)
        except Exception:  # a failed purge must not stop the next one
            log.exception("purging idempotency keys failed")


async def _prune_changes(store: SqlStore, settings: Settings) -> None:
    """Forgets changes past the retention, every PRUNE_EVERY seconds, a batch at a time."""
    retention = timedelta(days=settings.change_retention_days)
    while True:
        try:
            # In batches: other writes get their turn between them.
            pruned = await store.write(None, do_prune_changes, clock.now() - retention)
            while pruned:
                pruned = await store.write(None, do_prune_changes, clock.now() - retention)
        except Exception:  # a failed prune must not stop the next one
            log.exception("pruning the change log failed")
        await asyncio.sleep(PRUNE_EVERY)


def _serve_docs(app: FastAPI) -> None:
    # Swagger UI 5 (bundled by fastapi-offline): the first major version that reads the OpenAPI
    # 3.1 document FastAPI produces. The Swagger UI 4.15 of swagger-ui-bundle showed "Unable to
    # render this definition". tests/ui checks the page as Chromium renders it.
    app.mount("/docs-assets", StaticFiles(directory=_SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="chatd API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )
