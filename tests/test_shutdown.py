"""`oppbot run` stopped by SIGTERM with deliveries in flight: it exits 0 within 10 s, in HTTP mode and in
Socket Mode, and hands back what it still holds, so the next process sends it at once instead of after
the two-minute lease."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.domain.clock import FakeClock
from bot.outbox.dispatcher import Dispatcher
from storage.db import UnitOfWork, make_engine, upgrade
from storage.models import PENDING, Delivery
from tests.conftest import PG_URL, TEAM
from tests.driver import running_app
from tests.fakeslack import FakeSlack
from tests.support import TEST_CONFIG
from tests.test_cli import BASE_ENV, ROOT, free_port

OWNERS = ("U0REP1", "U0REP2", "U0MGR")  # one reminder DM each: three channels, so none waits for a pacing slot
SCRATCH = "oppbot_shutdown_test"


@pytest.fixture
def database(request, tmp_path, sqlite_template):
    """A database of its own for the bot's process and the test: on PostgreSQL not the suite's `test`, which
    the other tests empty (TRUNCATE) at their start, perhaps while this one's process runs."""
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "oppbot.db")
        engine = make_engine(f"sqlite:///{tmp_path / 'oppbot.db'}")
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    admin = make_engine(PG_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {SCRATCH}"))
    engine = make_engine(PG_URL.rsplit("/", 1)[0] + f"/{SCRATCH}")
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))
    admin.dispose()


def seed_due_reminders(engine, fake: FakeSlack, config) -> None:
    """Three deals and a follow-up on each, made an hour ago: their reminders are due now."""
    clock = FakeClock(datetime.now(timezone.utc) - timedelta(hours=1))
    with running_app(engine=engine, fake=fake, clock=clock, config=config) as slack:
        for number, owner in enumerate(OWNERS, start=1):
            assert slack.create(f"Deal of {owner}", user=owner).status == 200
            slack.command(f"followup OPP-{number} in 5 minutes call the buyer", user=owner)
    assert len(pending(engine)) == len(OWNERS)


def pending(engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).where(Delivery.status == PENDING, Delivery.kind == "reminder").order_by(Delivery.id)))


def start_oppbot(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "stderr.log"  # a file, not a pipe nobody reads while the bot logs
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    return process, log


def wait_for(condition, process: subprocess.Popen, log: Path, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{what} did not happen (exit status {process.poll()}):\n{log.read_text()}")
        time.sleep(0.05)


def stop(process: subprocess.Popen, log: Path) -> float:
    """SIGTERM; returns how long the process took to exit, which it must do with status 0 and no traceback."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"oppbot run was still running 10 s after SIGTERM:\n{log.read_text()}") from None
    elapsed = time.monotonic() - started
    stderr = log.read_text()
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    return elapsed


@pytest.mark.parametrize("database, mode", [("sqlite", "http"), ("sqlite", "socket"), pytest.param("postgresql", "http", marks=pytest.mark.postgres)],
                         indirect=["database"])
def test_sigterm_with_deliveries_in_flight_exits_0_and_hands_them_to_the_next_process(database, mode, fake_slack, config, tmp_path):
    engine = database
    fake_slack.add_channel("C0ENG", "engineering")  # the stage model's alert channels, which `run` resolves
    fake_slack.add_channel("C0SOL", "solutions")
    seed_due_reminders(engine, fake_slack, config)
    (tmp_path / "oppbot.toml").write_text(TEST_CONFIG)
    env = {**BASE_ENV, "SLACK_API_URL": fake_slack.api_url, "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "OPPBOT_CONFIG": str(tmp_path / "oppbot.toml")}
    env.update({"SLACK_APP_TOKEN": fake_slack.app_token} if mode == "socket" else {"PORT": str(free_port())})
    # Slack holds the reminder posts: SIGTERM comes while all three are in flight. Dropped in the end, unanswered.
    slack_answers = fake_slack.hang_next("chat.postMessage", release=threading.Event(), seconds=30, times=len(OWNERS), then="drop")
    process, log = start_oppbot(tmp_path, env)
    try:
        wait_for(lambda: fake_slack.hanging == len(OWNERS), process, log, "three reminder posts in flight")
        if mode == "socket":
            # the fake's wss:// URL refuses connections, so by now the client is retrying the link
            wait_for(lambda: len(fake_slack.calls("apps.connections.open")) >= 3, process, log, "Socket Mode retrying its link")
        elapsed = stop(process, log)
    finally:
        if process.poll() is None:
            process.kill()
        slack_answers.set()
    print(f"{mode}: exited 0 in {elapsed:.2f} s after SIGTERM")

    held = pending(engine)
    assert len(held) == len(OWNERS)
    assert all(row.claimed_by is None and row.claimed_until is None for row in held)
    # whether those posts reached Slack is unknown: the next attempt looks before posting
    assert all(row.in_doubt_since is not None for row in held)
    # The next process, well inside the lease the stopped one took: the rows are its to send at once.
    with running_app(engine=engine, fake=fake_slack, clock=FakeClock(datetime.now(timezone.utc)), config=config) as slack:
        assert slack.oppbot.dispatcher.run_once().sent == len(OWNERS)
    reminders = [c for c in fake_slack.calls("chat.postMessage") if c.status == 200 and c.response.get("ok")
                 and c.params.get("text", "").startswith("Follow-up due")]
    assert sorted(c.params["channel"] for c in reminders) == sorted(f"D{owner}" for owner in OWNERS)


def test_a_stopping_dispatcher_claims_nothing_and_hands_back_only_its_own_rows_still_in_doubt(engine, fake_slack, config):
    seed_due_reminders(engine, fake_slack, config)
    clock = FakeClock(datetime.now(timezone.utc))
    uow = lambda write=False: UnitOfWork(engine, write=write)  # noqa: E731
    stopping, other = Dispatcher(uow, clock, owner="stopping"), Dispatcher(uow, clock, owner="another process")
    assert len(other.claim(TEAM, limit=1)) == 1
    assert len(stopping.claim(TEAM)) == 2
    stopping.stop_claiming()
    clock.advance(seconds=20)
    assert stopping.release_held() == 2
    assert stopping.claim(TEAM) == [], "two rows are free and due, but a stopping dispatcher claims nothing"
    rows = pending(engine)
    released = [row for row in rows if row.claimed_by is None]
    assert len(released) == 2 and all(row.claimed_until is None and row.due_at == clock.now() and row.in_doubt_since is not None
                                      for row in released)
    [held] = [row for row in rows if row.claimed_by == "another process"]
    assert held.claimed_until is not None
