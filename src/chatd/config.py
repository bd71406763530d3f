"""Settings, declared once.

Each setting is listed a single time in `SETTINGS` with its name, type, default, environment
variable and help. The CLI flags, the README's configuration table and validation all come from
that list, so they cannot drift apart (a test compares the README table with it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./data/chatd.db"


@dataclass(frozen=True)
class Setting:
    name: str
    type: Callable[[str], Any]
    default: Any
    help: str

    @property
    def env_var(self) -> str:
        return "CHATD_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _number(kind: Callable[[str], Any], text: str) -> Any:
    try:
        return kind(text)
    except ValueError:  # Python's own words ("invalid literal for int() with base 10") say less
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"must be {noun}, got {text!r}") from None


def _positive_int(text: str) -> int:
    value: int = _number(int, text)
    if value < 1:
        raise ValueError(f"must be a positive integer, got {value}")
    return value


def _port(text: str) -> int:
    value: int = _number(int, text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port (0..65535), got {value}")
    return value


def _positive_float(text: str) -> float:
    value: float = _number(float, text)
    if not value > 0:
        raise ValueError(f"must be a positive number, got {text!r}")
    return value


def _broker_url(text: str) -> str:
    scheme = text.partition(":")[0]
    if scheme not in ("memory", "postgres", "postgresql", "redis", "rediss"):
        raise ValueError(f"unsupported broker URL {text!r}: use memory://, postgres:// or redis://")
    return text


def _lanes(text: str) -> str:
    if text.strip().lower() == "auto":
        return "auto"
    return str(_positive_int(text))


def _synchronous(text: str) -> str:
    value = text.upper()
    if value not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"must be FULL, EXTRA or NORMAL, got {text!r}")
    return value


def _database_url(text: str) -> str:
    scheme = text.partition(":")[0].split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH or postgresql://..."
        )
    if scheme == "sqlite":
        # `sqlite://` is SQLAlchemy's in-memory database: each connection would see its own,
        # empty one, and every message would be gone at exit.
        path = text.partition("://")[2].partition("?")[0].removeprefix("/")
        if path in ("", ":memory:"):
            raise ValueError(
                f"{text!r} names no file: use sqlite:///PATH (relative) or sqlite:////PATH "
                "(absolute), e.g. sqlite:///./data/chatd.db"
            )
    return text


def _rate(text: str) -> str:
    """A rate like `60/minute` or `5/15 minutes` (the `limits` library's notation); empty: none."""
    if text.strip():
        from limits import parse  # only when a rate is set: the CLI starts faster

        try:
            parse(text)
        except ValueError as exc:
            raise ValueError(f"not a rate like '60/minute': {text!r}") from exc
    return text.strip()


def _argon2_profile(text: str) -> str:
    if text not in ARGON2_PROFILES:
        raise ValueError(f"must be one of {', '.join(ARGON2_PROFILES)}, got {text!r}")
    return text


ARGON2_PROFILES = ("RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST")


AVITO_API_MODES = ("open", "key", "off")
AVITO_API_KEY_MIN = 16  # characters: a key short enough to guess is no lock


def _avito_api(text: str) -> str:
    value = text.lower()
    if value not in AVITO_API_MODES:
        raise ValueError(f"must be open, key or off, got {text!r}")
    return value


def _avito_api_key(text: str) -> str:
    # It travels in an `Authorization: Bearer` header: printable ASCII without spaces.
    if not (text.isascii() and text.isprintable()) or " " in text:
        raise ValueError("must be printable ASCII without spaces")
    return text


METRICS_MODES = ("off", "token", "open")


def _metrics(text: str) -> str:
    value = text.lower()
    if value not in METRICS_MODES:
        raise ValueError(f"must be off, token or open, got {text!r}")
    return value


def _log_level(text: str) -> str:
    value = text.lower()
    if value not in ("critical", "error", "warning", "info", "debug"):
        raise ValueError(f"must be one of critical, error, warning, info, debug, got {text!r}")
    return value


def _log_format(text: str) -> str:
    value = text.lower()
    if value not in ("text", "json"):
        raise ValueError(f"must be text or json, got {text!r}")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "0.0.0.0", "Address to listen on."),
    Setting("port", _port, 9000, "TCP port to listen on."),
    Setting(
        "workers",
        _positive_int,
        1,
        "Server processes sharing the port (`chatd serve`; about one per core). More than one "
        "needs a broker that reaches them all (`postgres://` or `redis://`: with `memory://` "
        "it refuses to start); each has its own database pool, and counts rate limits in its "
        "own windows unless the broker is `redis://`.",
    ),
    Setting(
        "database_url",
        _database_url,
        DEFAULT_DATABASE_URL,
        "`sqlite:///PATH` (embedded, the default) or `postgresql://user:pass@host:port/db`.",
    ),
    Setting(
        "db_pool_size",
        _positive_int,
        6,
        "PostgreSQL statements in flight per server process (reads and writes together; "
        "writes also go at most two transactions at a time). Bounded on purpose: backends "
        "beyond a few per core only queue on locks and CPUs (see docs/decisions.md §5).",
    ),
    Setting(
        "write_lanes",
        _lanes,
        "auto",
        "Groups of writes one server process keeps in the database at once. `auto`: 2 on "
        "PostgreSQL with one process, 1 with several (`--workers`) and on SQLite. Every group "
        "ends on the change log's one position row, so the groups of all processes queue there: "
        "with several replicas on one PostgreSQL, set 1 (see docs/decisions.md §31).",
    ),
    Setting(
        "sqlite_synchronous",
        _synchronous,
        "FULL",
        "SQLite `synchronous` pragma. FULL makes every acknowledged write survive power loss; "
        "NORMAL survives a process crash only.",
    ),
    Setting(
        "max_text_length",
        _positive_int,
        10_000,
        "Longest message text accepted, in characters.",
    ),
    Setting(
        "max_body_bytes",
        _positive_int,
        1024 * 1024,
        "Largest request body accepted, in bytes; larger bodies get 413.",
    ),
    Setting(
        "request_timeout",
        _positive_float,
        30.0,
        "Seconds a client has to send a whole request, headers and body, from its first byte "
        "(on a new connection: from connecting); a slower one gets 408 and is disconnected. Idle "
        "keep-alive connections between requests close after 5 s; WebSockets are not affected.",
    ),
    Setting(
        "max_header_bytes",
        _positive_int,
        16384,
        "Largest request line and headers accepted, in bytes; a larger head, or over 100 "
        "headers, gets 431 and is disconnected.",
    ),
    Setting(
        "shutdown_timeout",
        _positive_float,
        5.0,
        "Seconds the requests in flight at SIGTERM have to finish; those still running are "
        "then cut off. New connections are refused and WebSockets closed with 1001 at once; "
        "writes already queued are committed before exit. Keep it under the orchestrator's "
        "grace period (`docker stop`: 10 s).",
    ),
    Setting(
        "forwarded_allow_ips",
        str,
        "",
        "Proxies trusted to say who the client is (comma-separated addresses or networks, or "
        "`*`): from their requests the client address is taken from X-Forwarded-For (and the "
        "scheme from X-Forwarded-Proto), so per-address rate limits count each client, not the "
        "proxy. Empty (the default): those headers are ignored, since anyone could send them.",
    ),
    Setting("log_level", _log_level, "info", "critical, error, warning, info or debug."),
    Setting(
        "log_format",
        _log_format,
        "text",
        "`text` (one line for a terminal) or `json` (one JSON object per line, for a log "
        "collector): every line of the process, the access log's included.",
    ),
    Setting("token_ttl_days", _positive_int, 30, "Lifetime of a login token, in days."),
    Setting(
        "argon2_profile",
        _argon2_profile,
        "RFC_9106_LOW_MEMORY",
        "Password hashing cost: RFC_9106_LOW_MEMORY (argon2id, 64 MiB), RFC_9106_HIGH_MEMORY "
        "(2 GiB), or CHEAPEST (for tests only: not safe for real passwords).",
    ),
    Setting(
        "idempotency_ttl_hours",
        _positive_int,
        24,
        "How long a stored response is replayed for a repeated Idempotency-Key.",
    ),
    Setting("rate_limit_sends", _rate, "60/minute", "v1 message sends per user."),
    Setting("rate_limit_logins", _rate, "20/minute", "Login attempts per client address."),
    Setting(
        "rate_limit_login_failures",
        _rate,
        "5/15 minutes",
        "Failed logins per username before that username is throttled.",
    ),
    Setting("rate_limit_registrations", _rate, "10/hour", "Registrations per client address."),
    Setting("rate_limit_chat_creations", _rate, "30/hour", "v1 chats created per user."),
    Setting(
        "broker_url",
        _broker_url,
        "memory://",
        "How server processes tell each other of new changes: `memory://` (one process), "
        "`postgres://` (LISTEN/NOTIFY on chatd's own PostgreSQL database; or a full URL) or "
        "`redis://host:port/db`.",
    ),
    Setting(
        "change_retention_days",
        _positive_int,
        30,
        "How long the change log keeps changes: a stream can resume from any position this "
        "recent; an older one gets `resync_required`.",
    ),
    Setting(
        "ws_auth_timeout",
        _positive_float,
        5.0,
        "Seconds a new WebSocket has to authenticate before it is closed (4008).",
    ),
    Setting(
        "ws_ping_interval",
        _positive_float,
        20.0,
        "Seconds between keep-alive pings on a WebSocket.",
    ),
    Setting(
        "ws_ping_timeout",
        _positive_float,
        20.0,
        "Seconds a WebSocket has to answer a ping before it is closed.",
    ),
    Setting(
        "ws_send_timeout",
        _positive_float,
        10.0,
        "Seconds an event may wait for a slow client's full send buffer before the client is "
        "disconnected (4009; it can resume).",
    ),
    Setting(
        "ws_max_frame_bytes",
        _positive_int,
        65536,
        "Largest frame a client may send on a WebSocket; larger ones close it (1009).",
    ),
    Setting(
        "stream_sweep_seconds",
        _positive_float,
        0.5,
        "How often each server process reads the change log for changes whose broker hint was "
        "lost (one query a process, however many streams are open): the longest delay a lost "
        "hint, a broker outage or a command-line change without a broker can cause.",
    ),
    Setting(
        "presence_grace_seconds",
        _positive_float,
        5.0,
        "How long a user stays online after their last stream closed: a reconnection within it "
        "(a page reload, a network change) is not shown to others as offline and back.",
    ),
    Setting(
        "presence_ttl_seconds",
        _positive_float,
        30.0,
        "How long the users of a server process that stopped (killed, cut off from the "
        "database) still show online; each process renews its claim every third of it.",
    ),
    Setting(
        "rate_limit_avito",
        _rate,
        "",
        "Requests to the Avito API per client address; empty (the default) means unlimited: it "
        "is a trusted backend API.",
    ),
    Setting(
        "avito_api",
        _avito_api,
        "open",
        "Who may use the Avito API (`/users/add`, `/chats/add`, ...), which has no accounts: "
        "`open` (anyone who can reach the port: keep it on a private network), `key` (only "
        "requests with `Authorization: Bearer <CHATD_AVITO_API_KEY>`) or `off` (its paths "
        "answer 404).",
    ),
    Setting(
        "avito_api_key",
        _avito_api_key,
        "",
        "The Avito API's shared secret when `CHATD_AVITO_API=key`: at least 16 characters "
        "(e.g. `openssl rand -hex 32`). Prefer the variable to the flag: flags show in `ps`.",
    ),
    Setting(
        "metrics",
        _metrics,
        "off",
        "Who may read Prometheus metrics at `GET /metrics`: `off` (the path answers 404), "
        "`token` (only requests with `Authorization: Bearer <CHATD_METRICS_TOKEN>`) or `open` "
        "(anyone who can reach the port: keep it on a private network).",
    ),
    Setting(
        "metrics_token",
        _avito_api_key,
        "",
        "The scraper's secret when `CHATD_METRICS=token`: at least 16 characters. Prefer the "
        "variable to the flag: flags show in `ps`.",
    ),
)


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 9000
    workers: int = 1
    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = 6
    write_lanes: str = "auto"
    sqlite_synchronous: str = "FULL"
    max_text_length: int = 10_000
    max_body_bytes: int = 1024 * 1024
    request_timeout: float = 30.0
    max_header_bytes: int = 16384
    shutdown_timeout: float = 5.0
    forwarded_allow_ips: str = ""
    log_level: str = "info"
    log_format: str = "text"
    token_ttl_days: int = 30
    argon2_profile: str = "RFC_9106_LOW_MEMORY"
    idempotency_ttl_hours: int = 24
    rate_limit_sends: str = "60/minute"
    rate_limit_logins: str = "20/minute"
    rate_limit_login_failures: str = "5/15 minutes"
    rate_limit_registrations: str = "10/hour"
    rate_limit_chat_creations: str = "30/hour"
    broker_url: str = "memory://"
    change_retention_days: int = 30
    ws_auth_timeout: float = 5.0
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_send_timeout: float = 10.0
    ws_max_frame_bytes: int = 65536
    stream_sweep_seconds: float = 0.5
    presence_grace_seconds: float = 5.0
    presence_ttl_seconds: float = 30.0
    rate_limit_avito: str = ""
    avito_api: str = "open"
    avito_api_key: str = dataclasses.field(default="", repr=False)  # a secret: kept out of logs
    metrics: str = "off"
    metrics_token: str = dataclasses.field(default="", repr=False)  # a secret too

    @property
    def lanes(self) -> int | None:
        """`write_lanes` as a number; None: the database's own (storage/dialects.py).

        Several workers take one each: a second lane lets a process's next group start while one
        commits, and several processes already do that for each other. More groups at once
        only queue on the position row, and each is smaller (measured: docs/decisions.md §31)."""
        if self.write_lanes != "auto":
            return int(self.write_lanes)
        return 1 if self.workers > 1 else None

    def __post_init__(self) -> None:
        if self.avito_api == "key" and len(self.avito_api_key) < AVITO_API_KEY_MIN:
            raise ValueError(
                "CHATD_AVITO_API=key needs CHATD_AVITO_API_KEY (or --avito-api-key): a secret of "
                f"at least {AVITO_API_KEY_MIN} characters, e.g. from `openssl rand -hex 32`"
            )
        if self.metrics == "token" and len(self.metrics_token) < AVITO_API_KEY_MIN:
            raise ValueError(
                "CHATD_METRICS=token needs CHATD_METRICS_TOKEN (or --metrics-token): a secret of "
                f"at least {AVITO_API_KEY_MIN} characters, e.g. from `openssl rand -hex 32`"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: str | None) -> Settings:
        """Defaults, overridden by CHATD_* variables, overridden by CLI flags (raw strings).

        Raises ValueError naming the variable or flag when a value does not parse.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            sources = (
                (setting.env_var, env.get(setting.env_var)),
                (setting.flag, flags.get(setting.name)),
            )
            for source, raw in sources:
                if raw is None:
                    continue
                try:
                    values[setting.name] = setting.type(raw)
                except ValueError as exc:
                    raise ValueError(f"{source}: {exc}") from exc
        return cls(**values)


def markdown_table() -> str:
    """The README's configuration table (tests/test_docs.py keeps the README in step)."""
    lines = ["| Flag | Environment variable | Default | Meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        lines.append(f"| `{s.flag}` | `{s.env_var}` | `{s.default}` | {s.help} |")
    return "\n".join(lines)


def _check_settings_match_fields() -> None:
    # Settings (the typed object) and SETTINGS (the table) must describe the same things.
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    table = {s.name: s.default for s in SETTINGS}
    if fields != table:
        raise RuntimeError(f"Settings and SETTINGS disagree: {fields} != {table}")


_check_settings_match_fields()
