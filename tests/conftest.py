"""Fixtures: databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set), the fake Slack
server, a fake clock, and the app running in HTTP mode behind uvicorn exactly as in production."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.domain.clock import FakeClock
from bot.workspace.config import WorkspaceConfig, parse_config
from storage.db import make_engine, upgrade
from tests.driver import SlackDriver, running_app
from tests.fakeslack import FakeSlack
from tests.support import TEST_CONFIG

PG_URL = os.environ.get("TEST_DATABASE_URL")
START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
TEAM = "T0TEST"

TABLES = ["collaborator", "delivery", "follow_up", "posted_card", "stage_change", "opportunity", "stage", "sales_team_member", "sales_team", "pipeline", "member", "workspace"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine():
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    engine = make_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path, sqlite_template):
    if request.param == "sqlite":
        path = tmp_path / "oppbot.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
    else:
        yield request.getfixturevalue("postgres_engine")


@pytest.fixture
def postgres_engine(pg_engine):
    """The PostgreSQL test database, emptied: for tests that are about PostgreSQL only."""
    with pg_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return pg_engine


@pytest.fixture(scope="session")
def fake_slack_server():
    with FakeSlack(team_id=TEAM) as fake:
        yield fake


@pytest.fixture
def fake_slack(fake_slack_server):
    fake_slack_server.reset()
    for user, tz, admin in (("U0REP1", "Asia/Shanghai", False), ("U0REP2", "America/Los_Angeles", False),
                            ("U0MGR", "Asia/Shanghai", False), ("U0ADMIN", "Europe/Berlin", False),
                            ("U0OTHER", "UTC", False), ("U0SLACKADMIN", "UTC", True)):
        fake_slack_server.add_user(user, tz=tz, is_admin=admin)
    fake_slack_server.add_user("U0BOTUSER", is_bot=True)
    fake_slack_server.add_user("U0GONE", deleted=True)
    yield fake_slack_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


OWN_ENVIRONMENT = ("OPPBOT_", "SLACK_", "DATABASE_URL", "PORT", "LOG_LEVEL")


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch):
    """Each test starts from no oppbot settings: the developer's OPPBOT_*/SLACK_*/DATABASE_URL… are cleared
    and no `.env` is read (the checkout's or the working directory's); a test sets what it needs."""
    import bot.cli

    for key in list(os.environ):
        if key.startswith(OWN_ENVIRONMENT):
            monkeypatch.delenv(key)
    monkeypatch.setattr(bot.cli, "env_file", lambda: None)





@pytest.fixture
def config() -> WorkspaceConfig:
    return parse_config(TEST_CONFIG, "test.toml")


@pytest.fixture
def slack(engine, fake_slack, clock, config) -> SlackDriver:
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as driver:
        yield driver


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    """An engine on an empty database of its own, and the SQL that makes a connection use it (PostgreSQL:
    a schema of its own in the test database, so the suite's schema is left alone): for migration tests,
    with tests.support.migrating."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine, None
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"migration_{os.getpid()}"
    engine = make_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield engine, f"SET search_path TO {schema}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()
