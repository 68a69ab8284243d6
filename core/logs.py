"""Logs as one JSON object a line, carrying the context of the request or task at hand.

The request middleware (``core.middleware``) and the task signals (``config.celery``) open a
context with ``log_context_start``; anything logged until ``log_context_end`` carries its fields
(``request_id``, and what the code adds with ``log_context_update``, e.g. the connection and
error code of a sign-in), and the closing request or task line reports them all.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def log_context_start(**fields: Any) -> contextvars.Token:
    return _context.set(dict(fields))


def log_context_end(token: contextvars.Token) -> None:
    _context.reset(token)


def log_context_update(**fields: Any) -> None:
    """Add fields to the current request's or task's context (no-op outside one)."""
    context = _context.get()
    if context is not None:
        context.update(fields)


def log_context() -> dict[str, Any]:
    return dict(_context.get() or {})


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "pid", <context>, <extra>}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(_context.get() or {})
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
