"""Log output: text lines for people, or one JSON object per line for log shippers
(``log_format: json``, ``GRIDLINKS_LOG_FORMAT=json``).

A JSON line holds ``ts`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the
exception's type and message when there is one (never a traceback: tracebacks may quote
request data), and the record's extra fields (the access log's ``method``, ``path``,
``status``, ``ms``, ``peer``). Secrets never reach a log call in the first place (the
access log masks tokens in paths and query strings), and the database drivers' DEBUG
lines, which quote SQL parameters, are held back (:func:`quiet_secret_bearing_loggers`).
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record was passed as ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["exception"] = f"{type(exc).__name__}: {exc}"
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        return json.dumps(out, ensure_ascii=False)


# Third-party loggers that print SQL with its parameters at DEBUG: a device's access
# token, a provision secret, a password hash. Held at INFO whatever the root level.
SQL_LOGGERS = ("tortoise", "tortoise.db_client", "aiosqlite", "asyncpg")


def quiet_secret_bearing_loggers() -> None:
    """Keep :data:`SQL_LOGGERS` at INFO or above (the hub calls this when it is built)."""
    for name in SQL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger's one handler (stderr), in ``log_format`` (text or json)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
