"""`oppbot` as operators run it: settings errors fail fast with one line, `db upgrade`,
and `oppbot run` serving HTTP against a Slack-compatible API given by SLACK_API_URL."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot import cli
from storage.db import make_engine

ROOT = Path(__file__).resolve().parent.parent


def oppbot(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BASE_ENV = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s3cret"}


@pytest.mark.parametrize("env, expected", [
    ({}, "SLACK_BOT_TOKEN is not set"),
    ({"SLACK_BOT_TOKEN": "xoxb-test"}, "SLACK_SIGNING_SECRET is not set"),
    ({**BASE_ENV, "PORT": "eighty"}, "PORT must be a number between 1 and 65535, got 'eighty'"),
    ({**BASE_ENV, "SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL must be an http(s) URL"),
    ({**BASE_ENV, "DATABASE_URL": "mysql://db/oppbot"}, "DATABASE_URL must be sqlite:/// or postgresql://"),
    ({**BASE_ENV, "OPPBOT_CONFIG": "missing.toml"}, "OPPBOT_CONFIG points to 'missing.toml'"),
])
def test_run_fails_fast_with_one_line_naming_the_key(tmp_path, env, expected):
    result = oppbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "oppbot.db").exists()


def test_config_error_names_file_line_and_key(tmp_path):
    config = tmp_path / "oppbot.toml"
    config.write_text('[workspace]\ncurrency = "USD"\n\n[[stages]]\nname = "Prospect"\nprobability = 150\n')
    result = oppbot("run", env={**BASE_ENV, "OPPBOT_CONFIG": str(config)}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"oppbot: configuration error: {config}:6: stages[1].probability: must be between 0 and 100, got 150"


def test_db_upgrade_creates_the_schema(tmp_path):
    result = oppbot("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    tables = set(inspect(make_engine(f"sqlite:///{tmp_path}/x.db")).get_table_names())
    assert {"workspace", "member", "sales_team", "sales_team_member", "stage", "opportunity", "stage_change", "posted_card", "alembic_version"} <= tables


def test_run_serves_http_against_the_given_slack_api(tmp_path, fake_slack):
    port = free_port()
    env = {**BASE_ENV, "SLACK_API_URL": fake_slack.api_url, "PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp_path}/run.db",
           "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"oppbot run did not come up: {process.communicate(timeout=5)}") from None
                time.sleep(0.1)
        assert fake_slack.calls("auth.test"), "oppbot run checks its token with auth.test at start-up"
        body = urllib.parse.urlencode({"command": "/opp", "text": "help", "team_id": "T0TEST", "user_id": "U0REP1",
                                       "channel_id": "C1", "response_url": fake_slack.response_url(), "trigger_id": "t"})
        timestamp = str(int(time.time()))
        signature = "v0=" + hmac.new(b"s3cret", f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers={
            "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert "/opp new" in response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert (tmp_path / "run.db").exists(), "oppbot run upgrades an SQLite database by itself"


def test_run_refuses_a_token_slack_rejects(tmp_path, fake_slack):
    env = {**BASE_ENV, "SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_API_URL": fake_slack.api_url, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = oppbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "oppbot: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"


def test_run_picks_socket_mode_when_an_app_token_is_set(monkeypatch, tmp_path, fake_slack):
    import signal

    import bot.server

    chosen: list = []

    def serving(mode: str, setting: str):
        def serve(app, stop, *, on_stop) -> bool:
            chosen.append((mode, getattr(app.settings, setting)))
            signal.raise_signal(signal.SIGTERM)  # the operator stops the bot: `run` shuts down in order, status 0
            return True
        return serve

    monkeypatch.setattr(bot.server, "run_socket_mode", serving("socket", "slack_app_token"))
    monkeypatch.setattr(bot.server, "run_http", serving("http", "port"))
    monkeypatch.setattr(cli.gc, "freeze", lambda: chosen.append("start-up objects frozen"))
    for key, value in {**BASE_ENV, "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_API_URL": fake_slack.api_url,
                       "DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "OPPBOT_CONFIG": ""}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SLACK_APP_TOKEN", fake_slack.app_token)
    assert cli.main(["run"]) == 0
    assert fake_slack.calls("apps.connections.open"), "the app-level token is checked before Socket Mode starts"
    monkeypatch.delenv("SLACK_APP_TOKEN")
    monkeypatch.setenv("PORT", "3456")
    assert cli.main(["run"]) == 0
    assert chosen == ["start-up objects frozen", ("socket", fake_slack.app_token), "start-up objects frozen", ("http", 3456)]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "run gives the signals back as it found them"


@pytest.mark.parametrize("app_token, unreachable, expected", [
    ("xapp-wrong", False, "oppbot: SLACK_APP_TOKEN: Slack refused the app-level token (invalid_auth)"),
    ("xapp-test", True, "oppbot: SLACK_API_URL: cannot reach "),
])
def test_run_in_socket_mode_refuses_an_app_token_slack_rejects_in_one_line(tmp_path, fake_slack, app_token, unreachable, expected):
    if unreachable:  # auth.test answers; apps.connections.open drops the connection, every retry too
        fake_slack.hang_next("apps.connections.open", seconds=0, times=10, then="drop")
    env = {**BASE_ENV, "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_API_URL": fake_slack.api_url, "SLACK_APP_TOKEN": app_token,
           "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = oppbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2, "as for a refused bot token"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


def test_run_on_postgres_refuses_an_unmigrated_database(tmp_path, fake_slack):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set")
    admin = make_engine(url)
    from sqlalchemy import text
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("DROP DATABASE IF EXISTS oppbot_cli_test"))
        connection.execute(text("CREATE DATABASE oppbot_cli_test"))
    admin.dispose()
    scratch = url.rsplit("/", 1)[0] + "/oppbot_cli_test"
    env = {**BASE_ENV, "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_API_URL": fake_slack.api_url, "DATABASE_URL": scratch}
    result = oppbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "oppbot: DATABASE_URL: the database schema is not up to date; run `oppbot db upgrade` first"
    assert oppbot("db", "upgrade", env={"DATABASE_URL": scratch}, cwd=tmp_path).returncode == 0


def test_run_refuses_a_config_naming_a_channel_the_workspace_does_not_have(tmp_path, fake_slack):
    fake_slack.add_channel("C0SOLUTIONS", "solutions")
    config = tmp_path / "oppbot.toml"
    config.write_text('[[stages]]\nname = "Prospect"\n\n[[stages]]\nname = "Design"\nalert_channel = "#solutions"\n\n'
                      '[[stages]]\nname = "Tech"\nalert_channel = "#enginering"\n')
    env = {**BASE_ENV, "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_API_URL": fake_slack.api_url,
           "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "OPPBOT_CONFIG": str(config), "LOG_LEVEL": "WARNING"}
    result = oppbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"oppbot: OPPBOT_CONFIG: {config}: no channel named #enginering in this workspace (or the bot can't see it); "
                                     "use the channel id, or invite the bot to a private channel")


def test_too_old_a_sqlite_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/old.db")
    assert cli.main(["db", "upgrade"]) == 2
    assert capsys.readouterr().err.strip() == ("oppbot: DATABASE_URL: oppbot needs SQLite 3.33.0 or newer; this Python's sqlite3 module has "
                                               "3.31.1. Use a newer Python build or PostgreSQL (DATABASE_URL=postgresql://…).")
    assert not (tmp_path / "old.db").exists()
