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
from storage.db import make_engine, pending_migrations

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


def test_too_old_a_sqlite_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/old.db")
    assert cli.main(["db", "upgrade"]) == 2
    assert capsys.readouterr().err.strip() == ("oppbot: DATABASE_URL: oppbot needs SQLite 3.33.0 or newer; this Python's sqlite3 module has "
                                               "3.31.1. Use a newer Python build or PostgreSQL (DATABASE_URL=postgresql://…).")
    assert not (tmp_path / "old.db").exists()


# --------------------------------------------------------------------------- .env and the environment


def _upgraded(tmp_path: Path, name: str = "x.db") -> str:
    url = f"sqlite:///{tmp_path / name}"
    assert oppbot("db", "upgrade", env={"DATABASE_URL": url}, cwd=tmp_path).returncode == 0
    return url


def test_a_dotenv_in_the_working_directory_is_read(tmp_path):
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    (elsewhere / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\n")
    result = oppbot("db", "upgrade", env={}, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "from-dotenv.db").exists()
    assert not (elsewhere / "oppbot.db").exists()
    result = oppbot("db", "upgrade", env={"DATABASE_URL": "sqlite:///from-environment.db"}, cwd=elsewhere)
    assert (elsewhere / "from-environment.db").exists(), "what the environment sets wins over the .env"


def _checkout_copy(tmp_path: Path, *, with_tests: bool = False) -> Path:
    import shutil

    checkout = tmp_path / "checkout"
    for name in ("bot", "storage", "handlers", *(("tests",) if with_tests else ())):
        shutil.copytree(ROOT / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "oppbot.example.toml"):
        shutil.copy(ROOT / name, checkout / name)
    return checkout


def test_the_checkouts_dotenv_is_not_read_from_another_directory(tmp_path):
    checkout = _checkout_copy(tmp_path)
    (checkout / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/checkout.db\n")
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(checkout)},
                            cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "oppbot.db").exists(), "the default database, in the working directory"
    assert not (tmp_path / "checkout.db").exists()


def test_the_suite_ignores_a_dotenv_in_the_checkout_and_the_developers_environment(tmp_path):
    checkout = _checkout_copy(tmp_path, with_tests=True)
    hostile = {"SLACK_BOT_TOKEN": "xoxb-developer", "SLACK_SIGNING_SECRET": "dev", "SLACK_API_URL": "http://127.0.0.1:9/api/",
               "DATABASE_URL": f"sqlite:///{tmp_path}/developer.db", "OPPBOT_CONFIG": "missing.toml", "LOG_LEVEL": "LOUD", "PORT": "eighty"}
    (checkout / ".env").write_text("".join(f"{key}={value}\n" for key, value in hostile.items()))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/test_settings.py", "tests/test_cli.py",
                             "-k", "picks_socket_mode or too_old or outside or help or check_config or without_the_schema or behind or backup or reminders_due"],
                            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(checkout), **hostile}, cwd=checkout,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert not (tmp_path / "developer.db").exists()


def test_tests_see_no_outside_settings(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert cli.env_file() is None
    assert not [key for key in os.environ if key.startswith(("OPPBOT_", "SLACK_", "DATABASE_URL"))]


def test_help_lists_the_environment_and_where_the_dotenv_is_found(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL", "OPPBOT_CONFIG",
                "OPPBOT_TICK_SECONDS", "PORT", "LOG_LEVEL"):
        assert key in text
    assert ".env file in the current working directory" in text and "not from the source" in text
    for command in ("run", "db", "check-config", "config", "digest", "export", "reminders"):
        assert command in text


# --------------------------------------------------------------------------- check-config


def test_check_config_needs_no_slack_credentials_and_prints_the_whole_model(tmp_path):
    result = oppbot("check-config", env={"OPPBOT_CONFIG": str(ROOT / "oppbot.example.toml")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("currency: USD", "language: en", "2. Solution design: 30%, stalled after 21 days, alerts C0SOLUTIONS, mentions S0SOLUTIONS",
                     "won announced in: #wins", "lost announced in: C0SALESOPS", "manager: U0MGR", "members: U0REP1, U0REP2",
                     "digest: 08:30 Monday to Friday, Asia/Shanghai time ('30 8 * * 1-5'), also posted in C0EAST", "next digest: ",
                     "automatic assignment: off", "weights: win rate 0.5, speed 0.2, load 0.3", "EUR = 1.08, set 2026-11-30"):
        assert expected in out
    assert out.rstrip().endswith("\nOK")
    assert not list(tmp_path.iterdir()), "check-config creates nothing"
    # each pipeline with its stages, its announcement channels and the teams that use it
    renewals = out[out.index("Pipeline Renewals"):out.index("Pipeline Partners")]
    assert renewals.splitlines() == ["Pipeline Renewals: Existing customers renewing their contracts", "  teams using it: Accounts",
                                     "  stages (Won and Lost are the outcomes):", "    1. Renewal due: 40%, stalled after 30 days",
                                     "    2. Quote sent: 70%, stalled after 14 days, alerts C0RENEWALS", "    3. Negotiation: 90%, stalled after 10 days",
                                     "  won announced in: #wins", "  lost announced in: C0RENEWALS", ""]
    assert ("  teams using it: East (by default)\n  the first pipeline: teams that name none, and people in no team, use it\n" in out
            and "Pipeline Partners: Deals brought by resellers\n  teams using it: none\n" in out)


def test_check_config_takes_a_file_argument_and_defaults_to_the_built_in_model(tmp_path, capsys):
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "the built-in defaults (OPPBOT_CONFIG is not set)" in out and "1. Prospect: 10%, stalled after 14 days" in out
    assert "Teams\n  none" in out
    assert cli.main(["check-config", str(ROOT / "oppbot.example.toml")]) == 0


def test_next_digest_is_in_the_teams_time_zone():
    from datetime import datetime, timezone

    from bot.workspace.config import parse_config

    config = parse_config('[workspace]\ntimezone = "Europe/Berlin"\n[[teams]]\nname = "West"\nmanager = "U0MGR"\ndigest = "0 9 * * 1"\n'
                          '[[teams]]\nname = "East"\nmanager = "U0MGR"\ndigest = "15 7 * * 0,6"\ntimezone = "Asia/Shanghai"\n')
    lines = cli.describe_config(config, now=datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))  # a Tuesday
    assert "    digest: 09:00 on Monday, Europe/Berlin time ('0 9 * * 1')" in lines
    assert "    next digest: Mon 2026-12-07 09:00 CET" in lines
    assert "    digest: 07:15 Saturday and Sunday, Asia/Shanghai time ('15 7 * * 0,6')" in lines
    assert "    next digest: Sat 2026-12-05 07:15 CST" in lines


@pytest.mark.parametrize("toml, expected", [
    ('[workspace]\ncurrency = "RMB"\n', "x.toml:2: workspace.currency: 'RMB' is not an ISO 4217 currency code (for RMB use CNY)"),
    ('[workspace]\ncurrency = "ABC"\n', "x.toml:2: workspace.currency: 'ABC' is not an ISO 4217 currency code"),
    ('[exchange_rates]\nRMB = { rate = 0.14, set_on = 2026-11-30 }\n',
     "x.toml:2: exchange_rates.RMB: 'RMB' is not an ISO 4217 currency code (for RMB use CNY)"),
    ('[[stages]]\nname = "Prospect"\nprobability = 150\n', "x.toml:3: stages[1].probability: must be between 0 and 100, got 150"),
])
def test_check_config_reports_the_error_and_exits_1(tmp_path, monkeypatch, capsys, toml, expected):
    (tmp_path / "x.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check-config", "x.toml"]) == 1
    assert capsys.readouterr().out.strip() == f"error: {expected}"


def test_check_config_on_a_missing_file(tmp_path, capsys):
    assert cli.main(["check-config", str(tmp_path / "nope.toml")]) == 1
    assert capsys.readouterr().out.strip() == f"error: {tmp_path / 'nope.toml'} is not a readable file"


def test_iso_currencies_are_accepted():
    from bot.workspace.config import parse_config

    config = parse_config('[workspace]\ncurrency = "CNY"\n[exchange_rates]\nTWD = { rate = 0.22, set_on = 2026-11-30 }\n')
    assert config.currency == "CNY" and [r.currency for r in config.exchange_rates] == ["TWD"]


# --------------------------------------------------------------------------- a database without the schema


@pytest.mark.parametrize("args", [
    ["reminders"], ["reminders", "--due"], ["export", "csv"], ["export", "--csv"], ["config", "export"], ["config", "--export"],
    ["config", "export", "--workspace", "T0TEST"], ["digest", "--preview"], ["digest", "--now", "--team", "East"], ["db", "backup", "copy.db"],
])
@pytest.mark.parametrize("empty_file", [False, True])
def test_every_command_on_a_database_without_the_schema_says_so_and_creates_nothing(tmp_path, monkeypatch, capsys, args, empty_file):
    if empty_file:
        (tmp_path / "new.db").touch()
    monkeypatch.chdir(tmp_path)
    for key, value in {**BASE_ENV, "DATABASE_URL": f"sqlite:///{tmp_path}/new.db"}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(args) == 1
    assert capsys.readouterr().err.strip() == "oppbot: the database has no oppbot schema yet: run `oppbot db upgrade`"
    assert sorted(p.name for p in tmp_path.iterdir()) == (["new.db"] if empty_file else [])
    if empty_file:
        assert (tmp_path / "new.db").stat().st_size == 0


def test_a_database_behind_the_migrations_is_named(tmp_path, monkeypatch, capsys):
    from alembic import command

    from storage.db import alembic_config

    command.upgrade(alembic_config(f"sqlite:///{tmp_path}/old.db"), "0005")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/old.db")
    assert cli.main(["reminders"]) == 1
    assert capsys.readouterr().err.strip() == "oppbot: the database schema is not up to date: run `oppbot db upgrade`"


@pytest.mark.parametrize("args, expected", [
    (["config"], "`oppbot config export`"),
    (["export"], "`oppbot export csv`"),
    (["config", "export", "--team", "T0TEST"], "unrecognized arguments: --team"),
])
def test_commands_say_what_is_missing(capsys, args, expected):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_reminders_due_is_the_listing_reminders_gives(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", _upgraded(tmp_path))
    assert cli.main(["reminders", "--due"]) == 0
    assert capsys.readouterr().out.strip() == "Nothing pending."
    assert cli.main(["reminders"]) == 0
    assert capsys.readouterr().out.strip() == "Nothing pending."


# --------------------------------------------------------------------------- db backup


def test_db_backup_on_sqlite_copies_the_live_database_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    import sqlite3

    url = _upgraded(tmp_path, "live.db")
    with sqlite3.connect(tmp_path / "live.db") as connection:
        connection.execute("INSERT INTO workspace (team_id, currency, timezone, admins, industries, regions, company_sizes, last_opp_number, "
                           "assignment, created_at, language) VALUES ('T0BACKUP', 'USD', 'UTC', '[]', '[]', '[]', '[]', 7, '{}', "
                           "'2026-12-01 09:00:00', 'en')")
    monkeypatch.setenv("DATABASE_URL", url)
    target = tmp_path / "backups" / "oppbot-backup.db"
    target.parent.mkdir()
    assert cli.main(["db", "backup", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"backed up {tmp_path}/live.db to {target}"
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT team_id, last_opp_number FROM workspace").fetchall() == [("T0BACKUP", 7)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",), "one self-contained file"
    copy_engine = make_engine(f"sqlite:///{target}")
    assert not pending_migrations(copy_engine)
    copy_engine.dispose()
    for leftover in ("-wal", "-shm"):
        target.with_name(target.name + leftover).unlink(missing_ok=True)

    assert cli.main(["db", "backup", str(target)]) == 1
    assert capsys.readouterr().err.strip() == f"oppbot: {target} exists; pass --force to overwrite it"
    assert cli.main(["db", "backup", str(target), "--force"]) == 0
    assert sorted(p.name for p in target.parent.iterdir()) == ["oppbot-backup.db"], "no partial file is left behind"


def test_db_backup_on_postgres_prints_the_pg_dump_command(pg_engine, tmp_path, monkeypatch, capsys):
    url = pg_engine.url.set(password="hunter2").render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["db", "backup", str(tmp_path / "oppbot.dump")]) == 1
    captured = capsys.readouterr()
    assert "back up with pg_dump" in captured.err
    expected_url = pg_engine.url.set(drivername="postgresql", password="hunter2").render_as_string(hide_password=True)
    assert captured.out.strip() == f"pg_dump --format=custom --file={tmp_path / 'oppbot.dump'} '{expected_url}'", "quoted for the shell (the ***)"
    assert "hunter2" not in captured.out + captured.err
    assert not (tmp_path / "oppbot.dump").exists()
