"""What each server process runs, one or `--workers N` of them (`chatd serve`, cli.py).

uvicorn starts its workers with multiprocessing's *spawn*: each is a fresh interpreter that is
handed uvicorn's Config pickled and imports the app by name. So everything a worker needs
crosses as plain values:

- the settings, as environment variables: the parent writes every setting, flags included,
  as its CHATD_* variable (`settings_environment`), and `worker_app` reads them back;
- the HTTP protocol with its limits (api/protocol.py), as `LimitedHttp`, a small value that
  makes the protocol class again in the worker (a class made at run time cannot be pickled:
  pickle names a class by its module path).

The parent alone checks the port, migrates and announces, before any worker starts; each
worker builds its app and tunes its own garbage collector. One process takes the same path,
so every test of `chatd serve` proves it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from chatd.api.protocol import LimitedHttpProtocol, limited_http_protocol
from chatd.config import SETTINGS, Settings

APP = f"{__name__}:worker_app"  # what uvicorn imports (and calls: a factory) in each worker


def settings_environment(settings: Settings) -> dict[str, str]:
    """Every setting as the CHATD_* variable that gives it back (Settings.from_env)."""
    return {s.env_var: str(getattr(settings, s.name)) for s in SETTINGS}


def worker_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The app of one server process, from the settings its parent put in the environment."""
    from chatd.app import create_app
    from chatd.cli import tune_garbage_collector

    app = create_app(Settings.from_env(environ))
    # After the app is built: what is alive now lives as long as the process (cli.py).
    tune_garbage_collector()
    return app


@dataclass(frozen=True)
class LimitedHttp:
    """uvicorn's `http=`: called once per connection, like the protocol class it stands for."""

    request_timeout: float
    max_header_bytes: int

    def __call__(self, *args: Any, **kwargs: Any) -> asyncio.Protocol:
        return _protocol_class(self.request_timeout, self.max_header_bytes)(*args, **kwargs)


@functools.cache
def _protocol_class(request_timeout: float, max_header_bytes: int) -> type[LimitedHttpProtocol]:
    return limited_http_protocol(request_timeout, max_header_bytes)
