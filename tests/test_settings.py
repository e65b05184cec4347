"""Unit tests for bot/settings.py: process settings from an environment mapping (no os.environ)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_SLACK_API_URL,
    Settings,
    SettingsError,
    load_database_url,
    load_settings,
)

BASE = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cret"}


def env(**extra: str) -> dict[str, str]:
    return {**BASE, **extra}


def error_of(environment: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(environment)
    return str(info.value)


# --------------------------------------------------------------------------- defaults


def test_defaults():
    settings = load_settings(dict(BASE))
    assert settings == Settings(slack_bot_token="xoxb-1-2-abc", slack_signing_secret="s3cret")
    assert settings.slack_app_token is None
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL == "https://slack.com/api/"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert settings.config_path is None
    assert settings.tick_seconds == 30.0
    assert settings.port == 3000
    assert settings.log_level == "INFO"
    assert settings.socket_mode is False


def test_empty_strings_count_as_unset():
    settings = load_settings(env(SLACK_APP_TOKEN="", SLACK_API_URL=" ", DATABASE_URL="", OPPBOT_CONFIG="",
                                 OPPBOT_TICK_SECONDS="", PORT="", LOG_LEVEL=""))
    assert settings == Settings(slack_bot_token="xoxb-1-2-abc", slack_signing_secret="s3cret")


def test_values_are_trimmed():
    settings = load_settings({"SLACK_BOT_TOKEN": "  xoxb-x  ", "SLACK_SIGNING_SECRET": " s \n", "PORT": " 8080 "})
    assert settings.slack_bot_token == "xoxb-x"
    assert settings.slack_signing_secret == "s"
    assert settings.port == 8080


def test_settings_are_frozen():
    settings = load_settings(dict(BASE))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]  # the assignment the test expects to be refused


def test_socket_mode_follows_the_app_token():
    assert load_settings(env(SLACK_APP_TOKEN="xapp-1-A0-xyz")).socket_mode is True
    assert load_settings(env(SLACK_APP_TOKEN="xapp-1-A0-xyz")).slack_app_token == "xapp-1-A0-xyz"
    assert load_settings(dict(BASE)).socket_mode is False


# --------------------------------------------------------------------------- Slack credentials


@pytest.mark.parametrize("key", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"])
def test_missing_required_key_is_named(key):
    environment = dict(BASE)
    del environment[key]
    assert error_of(environment) == f"{key} is not set (see .env.example)"


@pytest.mark.parametrize("key", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"])
def test_blank_required_key_is_named(key):
    assert error_of(env(**{key: "   "})) == f"{key} is not set (see .env.example)"


@pytest.mark.parametrize("token", ["xoxp-user-token", "xapp-1-abc", "bot-token"])
def test_bot_token_must_be_a_bot_token(token):
    assert error_of(env(SLACK_BOT_TOKEN=token)) == "SLACK_BOT_TOKEN must be a bot token starting with 'xoxb-'"


@pytest.mark.parametrize("token", ["xoxb-1-abc", "app-token"])
def test_app_token_must_be_an_app_token(token):
    message = error_of(env(SLACK_APP_TOKEN=token))
    assert message.startswith("SLACK_APP_TOKEN must be an app-level token starting with 'xapp-'")


# --------------------------------------------------------------------------- Slack API URL


@pytest.mark.parametrize("url, expected", [
    ("http://localhost:8080/api", "http://localhost:8080/api/"),
    ("http://127.0.0.1:5555/api/", "http://127.0.0.1:5555/api/"),
    ("https://slack.com/api", "https://slack.com/api/"),
])
def test_api_url_gets_a_trailing_slash(url, expected):
    assert load_settings(env(SLACK_API_URL=url)).slack_api_url == expected


@pytest.mark.parametrize("url", ["ftp://slack.com/api/", "slack.com/api", "file:///etc/passwd", "https://"])
def test_non_http_api_url_is_rejected(url):
    message = error_of(env(SLACK_API_URL=url))
    assert message == f"SLACK_API_URL must be an http(s) URL like https://slack.com/api/, got {url!r}"


# --------------------------------------------------------------------------- numbers and levels


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1", "80.5", "65536"])
def test_bad_port(port):
    assert error_of(env(PORT=port)) == f"PORT must be a number between 1 and 65535, got {port!r}"


@pytest.mark.parametrize("port", ["1", "8080", "65535"])
def test_good_port(port):
    assert load_settings(env(PORT=port)).port == int(port)


def test_port_with_non_ascii_digit_is_a_settings_error():
    assert error_of(env(PORT="²")) == "PORT must be a number between 1 and 65535, got '²'"


@pytest.mark.parametrize("raw", ["fast", "0", "-1", "nan", "inf", "3601", "0.01"])
def test_bad_tick_seconds(raw):
    message = error_of(env(OPPBOT_TICK_SECONDS=raw))
    assert message.startswith("OPPBOT_TICK_SECONDS must be ")
    assert repr(raw) in message


def test_tick_seconds_not_a_number_message():
    assert error_of(env(OPPBOT_TICK_SECONDS="fast")) == "OPPBOT_TICK_SECONDS must be a number of seconds, got 'fast'"
    assert error_of(env(OPPBOT_TICK_SECONDS="0")) == "OPPBOT_TICK_SECONDS must be between 0.05 and 3600, got '0'"


@pytest.mark.parametrize("raw, value", [("0.05", 0.05), ("0.5", 0.5), ("60", 60.0), ("3600", 3600.0)])
def test_good_tick_seconds(raw, value):
    assert load_settings(env(OPPBOT_TICK_SECONDS=raw)).tick_seconds == value


def test_bad_log_level():
    assert error_of(env(LOG_LEVEL="LOUD")) == (
        "LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got 'LOUD'")


def test_log_level_is_case_insensitive():
    assert load_settings(env(LOG_LEVEL="debug")).log_level == "DEBUG"


# --------------------------------------------------------------------------- database


@pytest.mark.parametrize("url, expected", [
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///tmp/oppbot.db", "sqlite:///tmp/oppbot.db"),
])
def test_database_url_normalized(url, expected):
    assert load_settings(env(DATABASE_URL=url)).database_url == expected
    assert load_database_url({"DATABASE_URL": url}) == expected


def test_postgres_is_not_sqlite():
    assert load_settings(env(DATABASE_URL="postgres://u@h/db")).is_sqlite is False


def test_mysql_is_rejected():
    message = error_of(env(DATABASE_URL="mysql://x"))
    assert message == "DATABASE_URL must be sqlite:/// or postgresql://, got backend 'mysql'"
    with pytest.raises(SettingsError):
        load_database_url({"DATABASE_URL": "mysql://x"})


def test_garbage_database_url_is_rejected():
    message = error_of(env(DATABASE_URL="not a url"))
    assert message.startswith("DATABASE_URL is not a database URL")


def test_load_database_url_needs_no_slack_credentials():
    assert load_database_url({}) == DEFAULT_DATABASE_URL


# --------------------------------------------------------------------------- config file


def test_config_pointing_nowhere_is_rejected(tmp_path: Path):
    missing = tmp_path / "nowhere.toml"
    message = error_of(env(OPPBOT_CONFIG=str(missing)))
    assert message == f"OPPBOT_CONFIG points to {str(missing)!r}, which is not a readable file"


def test_config_pointing_at_a_directory_is_rejected(tmp_path: Path):
    message = error_of(env(OPPBOT_CONFIG=str(tmp_path)))
    assert message.startswith("OPPBOT_CONFIG points to")


def test_config_path_is_kept(tmp_path: Path):
    path = tmp_path / "oppbot.toml"
    path.write_text("", encoding="utf-8")
    assert load_settings(env(OPPBOT_CONFIG=str(path))).config_path == path
