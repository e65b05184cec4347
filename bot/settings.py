"""Process settings from the environment: loaded once, frozen, and validated up front.

Every problem is reported as one line that names the key, so a misconfigured deployment
fails at start-up instead of on the first Slack request. Only the environment is read here: the
`oppbot` command (bot/cli.py) first loads a `.env` from the current working directory, if there is one,
without overriding what the environment already sets.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///oppbot.db"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class SettingsError(ValueError):
    """A missing or malformed environment variable; the message names the key."""


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path | None = None
    tick_seconds: float = 30.0
    port: int = 3000
    log_level: str = "INFO"
    log_format: str = "text"  # LOG_FORMAT: text, or json (one object per line, bot/logs.py)
    metrics_port: int | None = None  # OPPBOT_METRICS_PORT: GET /metrics in Socket Mode (HTTP mode serves it on PORT)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _required(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise SettingsError(f"{key} is not set (see .env.example)")
    return value


def _optional(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key, "").strip()
    return value or None


def normalize_database_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_database_url(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL alone: `oppbot db upgrade` needs no Slack credentials."""
    env = os.environ if env is None else env
    database_url = normalize_database_url(_optional(env, "DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        raise SettingsError(f"DATABASE_URL is not a database URL: {database_url!r}") from None
    if backend not in ("sqlite", "postgresql"):
        raise SettingsError(f"DATABASE_URL must be sqlite:/// or postgresql://, got backend {backend!r}")
    return database_url


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env

    bot_token = _required(env, "SLACK_BOT_TOKEN")
    if not bot_token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN must be a bot token starting with 'xoxb-'")
    signing_secret = _required(env, "SLACK_SIGNING_SECRET")

    app_token = _optional(env, "SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with 'xapp-' (or unset for HTTP mode)")

    api_url = _optional(env, "SLACK_API_URL") or DEFAULT_SLACK_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"SLACK_API_URL must be an http(s) URL like {DEFAULT_SLACK_API_URL}, got {api_url!r}")
    if not api_url.endswith("/"):
        # slack_sdk joins method names with urljoin, which drops a last path segment without it.
        api_url += "/"

    database_url = load_database_url(env)

    config_value = _optional(env, "OPPBOT_CONFIG")
    config_path = Path(config_value) if config_value else None
    if config_path is not None and not config_path.is_file():
        raise SettingsError(f"OPPBOT_CONFIG points to {config_value!r}, which is not a readable file")

    tick_raw = _optional(env, "OPPBOT_TICK_SECONDS") or "30"
    try:
        tick_seconds = float(tick_raw)
    except ValueError:
        raise SettingsError(f"OPPBOT_TICK_SECONDS must be a number of seconds, got {tick_raw!r}") from None
    if not 0.05 <= tick_seconds <= 3600:
        raise SettingsError(f"OPPBOT_TICK_SECONDS must be between 0.05 and 3600, got {tick_raw!r}")

    port_raw = _optional(env, "PORT") or "3000"
    if not re.fullmatch(r"[0-9]{1,5}", port_raw) or not 1 <= int(port_raw) <= 65535:
        raise SettingsError(f"PORT must be a number between 1 and 65535, got {port_raw!r}")

    log_level = (_optional(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    log_format = (_optional(env, "LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise SettingsError(f"LOG_FORMAT must be text or json, got {log_format!r}")
    metrics_raw = _optional(env, "OPPBOT_METRICS_PORT")
    if metrics_raw is not None and (not re.fullmatch(r"[0-9]{1,5}", metrics_raw) or not 1 <= int(metrics_raw) <= 65535):
        raise SettingsError(f"OPPBOT_METRICS_PORT must be a number between 1 and 65535, got {metrics_raw!r}")

    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=api_url,
        database_url=database_url,
        config_path=config_path,
        tick_seconds=tick_seconds,
        port=int(port_raw),
        log_level=log_level,
        log_format=log_format,
        metrics_port=int(metrics_raw) if metrics_raw is not None else None,
    )


def configure_logging(level: str, fmt: str = "text") -> None:
    from bot.logs import configure

    configure(level, fmt)  # plain text, or one JSON object per line; never slack_sdk's DEBUG request dumps
    # Alembic narrates every plugin and migration at INFO; operators need only its warnings.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, getattr(logging, level)))
