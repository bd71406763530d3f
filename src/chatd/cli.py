"""The command line: `chatd serve | migrate`. Flags come from config.SETTINGS."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

from chatd.config import SETTINGS, Settings


def _add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for setting in SETTINGS:
        if setting.name in names:
            parser.add_argument(
                setting.flag,
                dest=setting.name,
                default=None,
                help=f"{setting.help} Env: {setting.env_var}. Default: {setting.default}.",
            )


SERVE_FLAGS = tuple(s.name for s in SETTINGS)
MIGRATE_FLAGS = ("database_url",)
# The broker: a change made here is hinted to the servers' streams as their own are.
USERS_FLAGS = ("database_url", "argon2_profile", "broker_url", "stream_sweep_seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="A self-hostable chat server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Migrate the database, then serve the API.")
    _add_setting_flags(serve, SERVE_FLAGS)
    migrate = commands.add_parser("migrate", help="Create or upgrade the database schema.")
    _add_setting_flags(migrate, MIGRATE_FLAGS)
    users = commands.add_parser("users", help="Manage accounts (passwords are read from stdin).")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="Create an account with a password.")
    add.add_argument("username")
    add.add_argument("--moderator", action="store_true", help="Give it the moderator role.")
    for action, help_text in (
        ("set-password", "Set or reset a password (also for users made by /users/add)."),
        ("promote", "Make a user a moderator."),
        ("demote", "Make a moderator a plain user."),
        ("block", "Block a user: their tokens stop working, they cannot log in or send."),
        ("unblock", "Unblock a user (their old tokens stay revoked)."),
    ):
        actions.add_parser(action, help=help_text).add_argument("username")
    actions.add_parser("list", help="List every account: id, username, role, blocked, created.")
    for parser_ in actions.choices.values():
        _add_setting_flags(parser_, USERS_FLAGS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = ("command", "action", "username", "moderator")
    overrides = {k: v for k, v in vars(args).items() if k not in commands}
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.log_level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "users":
        from chatd.admin import users_command

        moderator = getattr(args, "moderator", False)
        return users_command(settings, args.action, getattr(args, "username", ""), moderator)
    return _serve(settings)


def _migrate(settings: Settings) -> int:
    from chatd.storage import migrate

    migrate.upgrade(settings.database_url)
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    from chatd.app import create_app
    from chatd.storage import migrate

    migrate.upgrade(settings.database_url)
    app = create_app(settings)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        server_header=False,
        # The WebSocket stream (api/v1/stream.py): its keep-alive and its incoming frame limit.
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        ws_per_message_deflate=False,
    )
    return 0


# Young objects a collection waits for (CPython's default: 700), and collections of the middle
# generation before a full one (default: 10). See tune_garbage_collector.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """A chat server holds many long-lived objects (each open socket keeps a few hundred) and
    allocates in bursts (a message to 1,000 members is 1,000 sends). With CPython's defaults a
    burst's short-lived objects are collected while still alive, promoted to the oldest
    generation, and soon trigger a full collection, which walks every object: 200-440 ms with
    5,000 sockets open, every few seconds under fan-out (measured: docs/decisions.md §18).
    A larger young generation lets them die by reference counting first; what is alive after
    start-up (modules, the app) is frozen out of every collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
