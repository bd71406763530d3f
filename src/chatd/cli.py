"""The command line: `chatd serve | migrate | users | demo`. Flags come from config.SETTINGS.

An operator's mistake (a database that cannot be reached, a port in use, a file that cannot be
written, a bad setting) ends in one line on stderr saying what to change, never a traceback:
`failure_line` holds the one table of them. A traceback is left for chatd's own faults.
"""

from __future__ import annotations

import argparse
import errno
import gc
import ipaddress
import logging
import logging.config
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chatd import __version__, logs
from chatd.config import SETTINGS, Settings

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

log = logging.getLogger("chatd")


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
DEMO_FLAGS = USERS_FLAGS
DEMO_ARGUMENTS = ("users", "chats", "messages", "seed", "into_existing")  # not settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="A self-hostable chat server.")
    parser.add_argument("--version", action="version", version=f"chatd {__version__}")
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
    _add_demo_parser(commands)
    return parser


def _add_demo_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="Fill an empty database with realistic demo users, chats and messages.",
        description="Fills the database through the same use cases as the API, with a progress "
        "bar. Every demo account gets the same password, printed at the end: for demos only.",
    )
    for flag, default, what in (
        ("--users", 1000, "accounts to make"),
        ("--chats", 200, "chats to make (about 30%% private, the rest groups)"),
        ("--messages", 100_000, "messages to send"),
        ("--seed", 1, "the random seed: the same seed makes the same names, chats and texts"),
    ):
        demo.add_argument(flag, type=int, default=default, help=f"{what} (default {default})")
    demo.add_argument(
        "--into-existing",
        action="store_true",
        help="add to a database that already has users (refused without it)",
    )
    _add_setting_flags(demo, DEMO_FLAGS)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = ("command", "action", "username", "moderator", *DEMO_ARGUMENTS)
    overrides = {k: v for k, v in vars(args).items() if k not in commands}
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    logging.config.dictConfig(logs.config(settings.log_format, settings.log_level))
    logging.captureWarnings(True)  # a warning is a log line too: in the chosen format
    try:
        return _command(args, settings)
    except Exception as exc:
        line = failure_line(exc, settings)
        if line is None:
            raise
        print(f"chatd: {line}", file=sys.stderr)
        return 1


def _command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "users":
        from chatd.admin import users_command

        moderator = getattr(args, "moderator", False)
        return users_command(settings, args.action, getattr(args, "username", ""), moderator)
    if args.command == "demo":
        from chatd.demo import Sizes, demo_command

        sizes = Sizes(args.users, args.chats, args.messages)
        return demo_command(settings, sizes, args.seed, args.into_existing)
    return _serve(settings)


def _migrate(settings: Settings) -> int:
    from chatd.storage import migrate

    migrate.upgrade(settings.database_url)
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    from chatd import metrics, workers
    from chatd.api import shutdown
    from chatd.storage import migrate

    check_workers_broker(settings)
    # First: uvicorn would find the port taken only after migrating and starting the app.
    check_can_listen(settings.host, settings.port)
    # Once, here, before any worker starts (replicas on other machines wait on its lock).
    migrate.upgrade(settings.database_url)
    announce(settings)
    # Each worker, a fresh interpreter, builds its app from these (chatd/workers.py).
    os.environ.update(workers.settings_environment(settings))
    metrics.prepare_process_dir()  # the workers' metrics, merged by /metrics (chatd/metrics.py)
    shutdown.exit_zero_after_sigterm()  # a graceful shutdown's status (api/shutdown.py)
    uvicorn.run(
        workers.APP,
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # The same configuration again: uvicorn applies it (in each worker too), and its own
        # default would give its loggers handlers and a format of their own (chatd/logs.py).
        log_config=logs.config(settings.log_format, settings.log_level),
        access_log=False,  # chatd's own (api/access_log.py)
        loop="uvloop",
        # httptools, with a deadline for each request and a limit on its head (api/protocol.py).
        http=workers.LimitedHttp(  # type: ignore[arg-type]
            settings.request_timeout, settings.max_header_bytes
        ),
        # Only behind a proxy the operator names (uvicorn would trust 127.0.0.1 by default).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        server_header=False,
        # The WebSocket stream (api/v1/stream.py): its keep-alive and its incoming frame limit.
        # uvicorn's websockets-sansio, closing with 1001 on SIGTERM (api/shutdown.py).
        ws=shutdown.GoingAwayWebSocket,
        ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        ws_per_message_deflate=False,
        # Annotated int, but handed to asyncio.wait_for, which takes any number of seconds.
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]
    )
    return 0


class NeedsSharedBroker(Exception):
    """Several workers with the memory:// broker: see check_workers_broker."""


def check_workers_broker(settings: Settings) -> None:
    """Refuses several workers on the memory:// broker. Raises NeedsSharedBroker.

    It reaches only its own process: a message sent through one worker would reach the sockets
    held by the others only at their next sweep of the log (up to CHATD_STREAM_SWEEP_SECONDS
    late, every time). Silently slow is worse than refused; and picking a broker behind the
    operator's back would give them a dependency they did not choose."""
    if settings.workers > 1 and settings.broker_url.startswith("memory:"):
        raise NeedsSharedBroker(
            f"--workers {settings.workers} needs a broker that reaches every worker, and "
            "memory:// reaches only its own process: set --broker-url / CHATD_BROKER_URL to "
            "postgres:// (on PostgreSQL) or redis://HOST:PORT/DB, or run one worker"
        )


class CannotListen(Exception):
    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(host, port, error)
        self.host, self.port, self.error = host, port, error


def check_can_listen(host: str, port: int) -> None:
    """Binds every address `host` names on `port` as the server will (SO_REUSEADDR, IPv6 only
    on IPv6 sockets), then lets go. Raises CannotListen."""
    if port == 0:
        return  # any free port
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except OSError as exc:
        raise CannotListen(host, port, exc) from exc


def failure_line(exc: Exception, settings: Settings) -> str | None:
    """What an operator reads instead of a traceback, for a failure they can fix; None for a
    fault of chatd's own. Never a password: a database is named by its host and port."""
    from sqlalchemy.exc import DBAPIError

    from chatd.storage.migrate import NotWritable

    place = _database_place(settings.database_url)
    fix = "check --database-url / CHATD_DATABASE_URL"
    table: tuple[tuple[type[Exception], Callable[[Any], str | None]], ...] = (
        (NeedsSharedBroker, str),
        (CannotListen, lambda e: _cannot_listen(e.host, e.port, e.error)),
        (NotWritable, lambda e: f"{e}: make it writable by this user, or {fix}"),
        (DBAPIError, lambda e: _database_refused(e, place, fix)),
        (OSError, lambda e: f"cannot reach the database at {place} ({_reason(e)}): {fix}"),
    )
    for kind, line in table:
        if isinstance(exc, kind):
            return line(exc)
    return None


def _cannot_listen(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: stop what uses it, or choose another "
            "with --port / CHATD_PORT"
        )
    return (
        f"cannot listen on {host}:{port} ({_reason(error)}): "
        "check --host / CHATD_HOST and --port / CHATD_PORT"
    )


# SQLSTATE classes an operator fixes: connection, credentials, database name, resources, a
# server shutting down or starting. Any other error in a migration is a fault of chatd's own.
_OPERATOR_SQLSTATES = ("08", "28", "3D", "53", "57")


def _database_refused(exc: DBAPIError, place: str, fix: str) -> str | None:
    from sqlalchemy.exc import DatabaseError, OperationalError

    error = exc.orig or exc
    reason = str(error.args[0] if error.args else error).partition("\n")[0]
    if place.startswith("sqlite:"):
        # Unopenable, locked, or not a database at all ("file is not a database"); a broken
        # rule in a migration (an IntegrityError) is a fault of chatd's own.
        if isinstance(exc, OperationalError) or type(exc) is DatabaseError:
            return f"cannot use the SQLite database {place[len('sqlite:') :]} ({reason}): {fix}"
        return None
    if str(getattr(error, "sqlstate", None))[:2] in _OPERATOR_SQLSTATES:
        return f"the database at {place} refused the connection ({reason}): {fix}"
    return None


def _database_place(database_url: str) -> str:
    from sqlalchemy import make_url

    try:
        url = make_url(database_url)
    except Exception:  # explaining a failure must not fail: name no part of it
        return "the configured URL"
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{url.database}"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _reason(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if error.errno and error.errno > 0:
        return os.strerror(error.errno)
    return str(error.strerror or error) or type(error).__name__


def announce(settings: Settings) -> None:
    """One line at start saying what this server is and uses (never a password); a warning
    when anyone who reaches the port may use the Avito API."""
    log.info(
        "chatd %s listening on %s, database %s, broker %s, Avito API %s",
        __version__,
        _http_address(settings.host, settings.port),
        without_password(settings.database_url),
        without_password(settings.broker_url),
        settings.avito_api,
    )
    if settings.avito_api == "open" and not _is_loopback(settings.host):
        log.warning(
            "the Avito API is open to anyone who can reach %s: it has no accounts. Set "
            "CHATD_AVITO_API=key (with CHATD_AVITO_API_KEY) or off, or listen on a private "
            "network only (README: Running in production)",
            _http_address(settings.host, settings.port),
        )
    if settings.avito_api == "open" and settings.avito_api_key:
        log.warning("CHATD_AVITO_API_KEY is set but not checked: CHATD_AVITO_API is open")


def without_password(url: str) -> str:
    """A URL as logs may show it: its password (also a `password` query parameter) as ***."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url.partition("://")[0] + "://***"  # unparsable: show nothing that might be one
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


def _http_address(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


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
