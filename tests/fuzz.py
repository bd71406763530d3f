"""Schemathesis against chatd's own /openapi.json, in-process: both APIs, every operation.

`python -m tests.fuzz` is the long run (`make fuzz`, 10,000+ requests); tests/api/
test_schemathesis.py runs the same, bounded, in the normal suite. Every phase (examples,
coverage, fuzzing, stateful), positive and negative data, every check (`--checks all`), as a
moderator holding a bearer token; the app is built with the test suite's settings (no rate
limits, the cheapest argon2) on a fresh SQLite file, or on an empty migrated database given
by URL.

One worker, on purpose. CPython 3.11.7 (fixed in 3.11.8, gh-106905) keeps the AST
constructor's recursion depth per interpreter rather than per thread, so two threads in
`ast.parse` at once can fail with "SystemError: AST constructor recursion depth mismatch" when
a garbage collection runs Python code in the middle of one. Hypothesis calls `ast.parse` on
every local module's source to harvest constants (hypothesis/internal/constants_ast.py), from
whichever thread draws: with two or more schemathesis workers, two threads do it at once. With
one worker, only that worker thread runs Hypothesis (the main thread reads events; the app runs
on schemathesis's event-loop thread).

Two things the schema says in words only, and a run must allow for:
- JSON Schema counts 7.0 as an integer, and chatd refuses it (a JSON integer is written
  without a fraction): generated bodies carry integral numbers as integers.
- Rules that hang on state or on two parameters at once (UNSTATED) refuse some requests the
  schema's keywords allow; those refusals, and only with their own code and message, are not
  failures. Each is in its operation's description.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.python import asgi

from chatd.api.emoji import EMOJI_REFUSED
from chatd.app import build_accounts, create_app
from chatd.config import Settings
from chatd.core.writes import REPLY_REFUSED
from chatd.storage import migrate
from chatd.storage.database import open_database
from chatd.storage.store import SqlStore
from tests.conftest import TEST_SETTINGS

FUZZER = "fuzzer"
OTHER = "other"
PASSWORD = "fuzzing password"
LOG_OUT = "DELETE /api/v1/auth/tokens/current"
PHASES = ("examples", "coverage", "fuzzing", "stateful")

# Operation -> the (code, message) of each 400 no schema keyword can state.
UNSTATED: dict[str, set[tuple[str, str]]] = {
    "GET /api/v1/users": {("invalid_query", "give exactly one of username, prefix and id")},
    "GET /api/v1/chats": {("invalid_cursor", "cursor is not one this server gave out")},
    "GET /api/v1/search": {
        ("invalid_cursor", "cursor is not one this server gave out"),
        ("invalid_query", "q must hold at least one letter or digit"),
        ("invalid_query", "q must hold at most 10 words"),
    },
    "POST /api/v1/direct/{user_id}/messages": {
        ("invalid_user", "a private chat needs another user"),
        ("invalid_reply", REPLY_REFUSED),
    },
    "POST /api/v1/chats/{chat_id}/messages": {("invalid_reply", REPLY_REFUSED)},
    "POST /messages/add": {("invalid_reply", REPLY_REFUSED)},
    "PUT /api/v1/messages/{message_id}/reactions/{emoji}": {("invalid_emoji", EMOJI_REFUSED)},
    "DELETE /api/v1/messages/{message_id}/reactions/{emoji}": {("invalid_emoji", EMOJI_REFUSED)},
    "PATCH /api/v1/chats/{chat_id}": {
        ("invalid_users", "users must include the chat's owner: an owner leaves with /leave")
    },
}
# Any v1 write: a generated Idempotency-Key may repeat one sent with another request.
REUSED_KEY = ("idempotency_key_reused", "this Idempotency-Key was used for a different request")


@dataclass
class Report:
    requests: int = 0
    by_phase: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # One entry per unique failure: its title, and how to reproduce it.
    failures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in self.by_phase.items())
        lines = [
            f"{self.requests} requests ({phases}) in {self.seconds:.0f} s: "
            f"{len(self.failures)} unique failures, {len(self.errors)} errors"
        ]
        lines += [f"\n{title}\n{detail}" for title, detail in self.failures.items()]
        lines += [f"\nerror: {error}" for error in self.errors]
        return "\n".join(lines)


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, **TEST_SETTINGS)


def run(
    settings: Settings,
    *,
    max_examples: int,
    seed: int = 0,
    phases: tuple[str, ...] = PHASES,
    max_steps: int = 10,
) -> Report:
    """One schemathesis run against a fresh app on the given (migrated, empty) database."""
    asyncio.run(_add_users(settings))
    app = create_app(settings)
    with _served(app):
        token = _log_in(app)
        _add_chat(app, token)
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", app, config=_config(max_examples, seed, phases, max_steps)
        )
        _authenticate(schema, app, token)
        _allow_for_words(schema)
        return _execute(schema)


def _config(
    max_examples: int, seed: int, phases: tuple[str, ...], max_steps: int
) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "workers": 1,  # see the module's docstring: gh-106905
            "continue-on-failure": True,
            "checks": {"enabled": True},
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                **{phase: {"enabled": phase in phases} for phase in PHASES},
                "stateful": {"enabled": "stateful" in phases, "max-steps": max_steps},
            },
        }
    )


async def _add_users(settings: Settings) -> None:
    # Through the core, before the app starts: no HTTP route makes a moderator.
    database = open_database(settings)
    try:
        accounts = build_accounts(SqlStore(database), settings)
        await accounts.register(FUZZER, PASSWORD, role="moderator")
        await accounts.register(OTHER, PASSWORD)
    finally:
        await database.dispose()


@contextmanager
def _served(app: FastAPI) -> Iterator[None]:
    # schemathesis runs the app's lifespan on its own event-loop thread until told to stop.
    try:
        with asgi.get_client(app):
            yield
    finally:
        asgi.shutdown_lifespans()


def _log_in(app: FastAPI) -> str:
    with asgi.get_client(app) as client:
        reply = client.post("/api/v1/auth/tokens", json={"username": FUZZER, "password": PASSWORD})
        reply.raise_for_status()
        token: str = reply.json()["token"]
        return token


def _add_chat(app: FastAPI, token: str) -> None:
    # Something for the examples' id 1 to find: a chat with both users and a message in it.
    headers = {"Authorization": f"Bearer {token}"}
    with asgi.get_client(app) as client:
        chat = client.post("/api/v1/chats", json={"name": "seeded", "users": [2]}, headers=headers)
        chat.raise_for_status()
        sent = client.post(
            f"/api/v1/chats/{chat.json()['id']}/messages", json={"text": "hi"}, headers=headers
        )
        sent.raise_for_status()


def _authenticate(schema: Any, app: FastAPI, token: str) -> None:
    @schema.auth(refresh_interval=None)
    class Bearer:
        def get(self, case: Any, context: Any) -> str:
            # Logging out revokes the token in use: that operation spends tokens of its own.
            return _log_in(app) if case.operation.label == LOG_OUT else token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _allow_for_words(schema: Any) -> None:
    @schema.hook
    def map_body(context: Any, body: Any) -> Any:
        return _integers(body)

    @schema.hook
    def filter_failure(context: Any, failure: Failure, case: Any, response: Any) -> bool:
        try:
            error = (response.json()["error"]["code"], response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return True
        if error == REUSED_KEY and "Idempotency-Key" in (case.headers or {}):
            # The documented answer to a key sent again with another request, whatever that
            # request is (another method on the path, for the unsupported_method check).
            return False
        unstated = UNSTATED.get(case.operation.label, set())
        return not (isinstance(failure, RejectedPositiveData) and error in unstated)


def _integers(value: Any) -> Any:
    """The value with each integral float (7.0) written as an integer (7)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers(item) for item in value]
    return value


def _execute(schema: Any) -> Report:
    report = Report()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            report.requests += len(event.recorder.interactions)
            phase = getattr(event, "phase", "fuzzing")
            report.by_phase[str(phase)] += len(event.recorder.interactions)
            _collect(report, event.recorder)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            report.errors.append(repr(event.exception))
    report.seconds = time.monotonic() - started
    return report


def _collect(report: Report, recorder: Any) -> None:
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            title = f"{failure.operation}: {failure.title} ({check.name})"
            if title in report.failures:
                continue
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            answer = "" if response is None else f"-> {response.status_code} {response.text[:300]}"
            report.failures[title] = (
                f"{failure.message}\n{check.failure_info.code_sample}\n{answer}".strip()
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--max-examples", type=int, default=600, help="per operation and phase")
    parser.add_argument("--max-steps", type=int, default=20, help="per stateful scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url", help="an empty, migrated database (default: a fresh SQLite file)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url
        if url is None:
            url = f"sqlite:///{Path(scratch) / 'chatd.db'}"
            migrate.upgrade(url)
        report = run(
            settings_for(url),
            max_examples=args.max_examples,
            seed=args.seed,
            max_steps=args.max_steps,
        )
    print(report.summary())
    return 1 if report.failures or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
