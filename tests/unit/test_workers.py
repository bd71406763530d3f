"""What crosses from `chatd serve` to the worker processes uvicorn spawns: the settings, through
the environment, and the HTTP protocol with its limits, pickled with uvicorn's Config."""

from __future__ import annotations

import pickle

import uvicorn

from chatd.api.protocol import LimitedHttpProtocol
from chatd.config import Settings
from chatd.workers import APP, LimitedHttp, _protocol_class, settings_environment


def test_every_setting_comes_back_from_the_environment() -> None:
    settings = Settings(
        port=9100,
        workers=3,
        database_url="postgresql://chatd:secret@db:5432/chatd",
        request_timeout=12.5,
        rate_limit_avito="5/15 minutes",
        rate_limit_sends="",
        broker_url="redis://redis:6379/0",
        avito_api="key",
        avito_api_key="k" * 32,
    )
    assert Settings.from_env(settings_environment(settings)) == settings


def test_the_http_protocol_crosses_to_a_spawned_worker_with_its_limits() -> None:
    http = LimitedHttp(7.0, 4096)
    config = uvicorn.Config(APP, factory=True, workers=2, http=http)  # type: ignore[arg-type]
    crossed = pickle.loads(pickle.dumps(config)).http  # as multiprocessing's spawn sends it
    assert crossed == http
    made = _protocol_class(crossed.request_timeout, crossed.max_header_bytes)
    assert issubclass(made, LimitedHttpProtocol)
    assert (made.request_timeout, made.max_head_bytes) == (7.0, 4096)
