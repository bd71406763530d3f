"""How the process logs: plain text for a terminal, or one JSON object per line for a collector.

    CHATD_LOG_FORMAT=text   2026-12-06 17:53:49,123 INFO chatd.access: GET /api/v1/me 200 ...
    CHATD_LOG_FORMAT=json   {"time": "2026-12-06T17:53:49.123Z", "level": "INFO", ...}

`config` is a `logging.config.dictConfig` document, and uvicorn is given the same one
(`log_config`): uvicorn applies it again in each worker process it starts, which inherits
nothing of its parent's logging. Uvicorn's own loggers get no handler of their own, so their
lines go through the root's formatter like every other, and its WebSocket lines lose their
query strings (`WithoutQueries`).

A JSON line has time, level, logger and message, the exception's traceback as `exception` when
there is one, and, on access lines (api/access_log.py), the request's fields beside the message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The attribute an access line's fields travel under on its LogRecord (`extra=`).
FIELDS = "chatd_fields"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: a newline inside a message or a traceback is
    escaped, so that no line of the log can be forged or split."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if fields:
            line.update(fields)
        if record.exc_info:
            # Formatted once and kept, as logging.Formatter does, for other handlers.
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line).decode()


class WithoutQueries(logging.Filter):
    """Uvicorn logs each WebSocket handshake with its path and query string; a query may carry a
    token (chatd takes none there, but a client may try). Keeps the path only, escaped where it
    is not printable (a percent-encoded line break must not forge a line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            isinstance(record.msg, str)
            and record.msg.startswith('%s - "WebSocket %s"')
            and isinstance(args, tuple)
            and len(args) >= 2
        ):
            path = str(args[1]).partition("?")[0]
            path = path if path.isprintable() else ascii(path)[1:-1]
            record.args = (args[0], path, *args[2:])
        return True


def _utc(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def config(log_format: str, level: str) -> dict[str, Any]:
    """The logging configuration for `chatd`'s commands, and for uvicorn's `log_config`."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}")
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    loggers: dict[str, Any] = {
        # No handler of uvicorn's own: its lines take the root's format.
        name: {"handlers": [], "propagate": True}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    }
    loggers["uvicorn.error"]["filters"] = ["without_queries"]
    if level != "debug":
        # A line per migration step at every start says nothing an operator needs.
        loggers["alembic"] = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"chatd": formatter},
        "filters": {"without_queries": {"()": f"{__name__}.WithoutQueries"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "chatd",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": loggers,
    }
