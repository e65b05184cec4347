"""Log context and format: `LOG_FORMAT=json` writes one JSON object per line, plain text otherwise.

What a line is about (team, user, request kind, delivery id) is kept in context variables, set where
requests (bot/server.py) and deliveries (bot/outbox/dispatcher.py) are handled, and added to every
record by `ContextFilter`. Nothing secret is logged: slack_sdk's DEBUG lines carry request bodies
and headers (tokens, message text), so they are dropped (`quiet_slack_sdk`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

FIELDS = ("team", "user", "request_kind", "delivery_id")
_context: ContextVar[dict[str, Any] | None] = ContextVar("oppbot_log_context", default=None)


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Add these fields (None ones are left out) to every log line written inside, in this thread."""
    merged = {**(_context.get() or {}), **{key: value for key, value in values.items() if value is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _NoSlackSdkDebug(logging.Filter):
    """slack_sdk's DEBUG lines print each request's body and headers, and each answer: tokens and message text."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


# The loggers whose DEBUG output carries request bodies, headers or payloads.
NOISY = ("slack_sdk.web.base_client", "slack_sdk.web.legacy_base_client", "slack_sdk.web.slack_response", "slack_sdk.web.internal_utils",
         "slack_sdk.webhook.client", "slack_sdk.signature", "slack_sdk.socket_mode.builtin.client",
         "slack_sdk.socket_mode.builtin.connection", "slack_sdk.socket_mode.client", "slack_bolt.App", "slack_bolt.adapter.socket_mode")
_quiet = _NoSlackSdkDebug()


def quiet_slack_sdk() -> None:
    """Drop the DEBUG records of slack_sdk's and Bolt's request loggers, whatever handler listens (idempotent)."""
    for name in NOISY:
        logger = logging.getLogger(name)
        if _quiet not in logger.filters:
            logger.addFilter(_quiet)


def configure(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])
    quiet_slack_sdk()
