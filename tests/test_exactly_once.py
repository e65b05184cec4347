"""No message the outbox sends is sent twice, and none is lost: when the record of a post fails, when
Slack's answer to it is lost, when the process is killed mid-delivery. Each post carries its delivery's
id in its metadata; a retry whose last attempt's outcome is unknown finds it in the conversation's
history instead of posting again."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from bot.app import create_app
from bot.deals.cards import CARD_KINDS
from bot.domain.clock import FakeClock
from bot.followups.service import REMINDER, reminder_key
from bot.outbox.dispatcher import LEASE, backoff
from bot.outbox.messages import MESSAGE
from bot.settings import Settings
from storage.db import UnitOfWork
from storage.models import SENT, Delivery, FollowUp
from storage.outbox import OutboxRepository
from tests.support import TEST_CONFIG, create, migrating, rows
from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def deal(slack) -> int:
    assert slack.create("Acme rollout").status == 200
    return slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1).id


@pytest.fixture
def due_reminder(slack, deal) -> Delivery:
    slack.command("followup OPP-1 in 1 hour call the buyer")
    slack.clock.advance(hours=1)
    [row] = rows(slack, Delivery, kind=REMINDER)
    return row


def reminder_dms(fake, user: str = "U0REP1") -> list[dict]:
    """The reminder messages Slack has in the user's DM (not the calls: a post whose answer was lost is here too)."""
    return [m for m in fake.messages(f"D{user}") if m["text"].startswith("Follow-up due")]


def delivery_client(slack):
    """The WebClient of the gateway the outbox sends through."""
    return slack.oppbot.services.alert_senders.slack.client


def test_a_post_whose_record_failed_is_found_in_slack_and_recorded_not_posted_again(slack, due_reminder, monkeypatch):
    dispatcher, fake = slack.oppbot.dispatcher, slack.fake
    settle = OutboxRepository.settle
    failed: list[int] = []

    def database_gone_once(self, delivery, owner, values):
        if delivery.kind == REMINDER and not failed:
            failed.append(delivery.id)
            raise OperationalError("UPDATE delivery …", {}, Exception("server closed the connection unexpectedly"))
        return settle(self, delivery, owner, values)

    monkeypatch.setattr(OutboxRepository, "settle", database_gone_once)
    stats = dispatcher.run_once()  # the post is made; recording it fails, and the lane goes on
    assert (stats.sent, stats.retried) == (0, 1) and failed == [due_reminder.id]
    [dm] = reminder_dms(fake)
    assert dm["metadata"] == {"event_type": "oppbot_delivery", "event_payload": {"delivery_id": due_reminder.id, "part": 0}}
    [row] = rows(slack, Delivery, kind=REMINDER)
    assert (row.status, row.claimed_by, row.in_doubt_since) == ("pending", dispatcher.owner, slack.clock.now())

    assert dispatcher.run_once().sent == 0  # still held: the lease has not run out
    slack.clock.advance(LEASE + timedelta(seconds=1))
    assert dispatcher.run_once().sent == 1
    [row] = rows(slack, Delivery, kind=REMINDER)
    assert (row.status, row.channel_id, row.message_ts, row.in_doubt_since) == (SENT, "DU0REP1", dm["ts"], None)
    assert len(reminder_dms(fake)) == 1
    [history] = fake.calls("conversations.history")
    assert history.params["channel"] == "DU0REP1" and history.params["include_all_metadata"] in ("1", "true", True)
    assert len(rows(slack, Delivery, kind="nudge")) == 1  # what recording "sent" schedules was done once too


@pytest.mark.parametrize("failure", ["answer lost in a 500", "connection dropped after the post", "timeout, posted later"])
def test_a_post_whose_answer_was_lost_is_found_on_retry_not_posted_twice(slack, due_reminder, failure, monkeypatch, caplog):
    dispatcher, fake = slack.oppbot.dispatcher, slack.fake
    release = None
    if failure == "answer lost in a 500":
        fake.lose_reply_next("chat.postMessage", status=500)
    elif failure == "connection dropped after the post":
        fake.lose_reply_next("chat.postMessage", status=0)
    else:
        monkeypatch.setattr(delivery_client(slack), "timeout", 0.2)
        release = fake.hang_next("chat.postMessage", seconds=10)
    with caplog.at_level(logging.WARNING):
        stats = dispatcher.run_once()
    assert (stats.sent, stats.retried) == (0, 1)
    if release is not None:  # Slack posts it after the client gave up waiting
        release.set()
        fake.wait_for("chat.postMessage", predicate=lambda call: call.params.get("text", "").startswith("Follow-up due"))
    [dm] = reminder_dms(fake)
    [row] = rows(slack, Delivery, kind=REMINDER)
    assert (row.status, row.attempts, row.due_at) == ("pending", 1, slack.clock.now() + backoff(1))
    records = [r for r in caplog.records if r.name.startswith("bot.")]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)], [r.getMessage() for r in records]

    slack.clock.advance(backoff(1))
    assert dispatcher.run_once().sent == 1
    assert len(reminder_dms(fake)) == 1
    [row] = rows(slack, Delivery, kind=REMINDER)
    assert (row.status, row.message_ts, row.in_doubt_since) == (SENT, dm["ts"], None)


def test_slacks_refusal_is_a_known_outcome_and_the_retry_posts_without_looking(slack, due_reminder):
    dispatcher, fake = slack.oppbot.dispatcher, slack.fake
    fake.rate_limit_next("chat.postMessage", retry_after=30)
    assert dispatcher.run_once().sent == 0
    [row] = rows(slack, Delivery, kind=REMINDER)
    assert row.in_doubt_since is None  # Slack answered 429: nothing was posted
    slack.clock.advance(seconds=30)
    assert dispatcher.run_once().sent == 1
    assert len(reminder_dms(fake)) == 1 and not fake.calls("conversations.history")


@pytest.mark.parametrize("history_error", ["ratelimited", "missing_scope"])
def test_a_retry_that_cannot_look_in_slack_posts_nothing_and_waits(slack, due_reminder, history_error):
    dispatcher, fake = slack.oppbot.dispatcher, slack.fake
    fake.lose_reply_next("chat.postMessage", status=500)
    dispatcher.run_once()
    slack.clock.advance(backoff(1))
    if history_error == "ratelimited":
        fake.rate_limit_next("conversations.history", retry_after=20)
    else:
        fake.fail_next("conversations.history", "missing_scope")  # the app was not reinstalled with the history scopes
    assert dispatcher.run_once().sent == 0
    [row] = rows(slack, Delivery, kind=REMINDER)
    assert row.status == "pending" and row.in_doubt_since is not None
    assert len(reminder_dms(fake)) == 1
    slack.clock.set(row.due_at)
    assert dispatcher.run_once().sent == 1
    assert len(reminder_dms(fake)) == 1


def test_a_post_in_a_channel_the_bot_is_not_in_is_looked_for_after_joining(slack, deal):
    """chat:write.public posts in a public channel the bot has not joined; its history is read only from inside."""
    dispatcher, fake, now = slack.oppbot.dispatcher, slack.fake, slack.clock.now()
    fake.add_channel("C0WINS", "wins")
    with UnitOfWork(slack.oppbot.engine, write=True) as uow:
        uow.outbox.schedule(team_id="T0TEST", kind=MESSAGE, subject_id=0, dedupe_key="message:wins", due_at=now, now=now,
                            payload={"channel": "C0WINS", "text": "OPP-1 is won"})
        uow.commit()
    fake.lose_reply_next("chat.postMessage", status=500)
    dispatcher.run_once()
    fake.bot_not_in_channel("C0WINS")
    slack.clock.advance(backoff(1))
    assert dispatcher.run_once().sent == 1
    assert [m["text"] for m in fake.messages("C0WINS")] == ["OPP-1 is won"]
    assert [c.params["channel"] for c in fake.calls("conversations.join")] == ["C0WINS"]


def test_kill_9_mid_delivery_loses_no_reminder_and_sends_none_twice(engine, fake_slack, config, tmp_path):
    """`oppbot run` is killed while ~60 reminders go out; once its leases run out, another process sends the rest."""
    reminders, channels = 60, 30
    database_url = engine.url.render_as_string(hide_password=False)
    started = datetime.now(timezone.utc)
    settings = Settings(slack_bot_token=fake_slack.bot_token, slack_signing_secret="s3cret", slack_api_url=fake_slack.api_url,
                        database_url=database_url, port=0)
    opp = create(create_app(settings, clock=FakeClock(started), engine=engine, config=config).services)
    with UnitOfWork(engine, write=True) as uow:
        for kind in CARD_KINDS:  # the deal's card is not what this test is about
            uow.outbox.cancel_pending(team_id="T0TEST", kinds=(kind,), subject_id=opp.id)
        follow_ups = [FollowUp(team_id="T0TEST", opportunity_id=opp.id, text=f"crash reminder {i}", due_at=started,
                               assignee_id=f"U0C{i % channels:03d}", status="pending", created_by="U0REP1", created_at=started)
                      for i in range(reminders)]
        uow.session.add_all(follow_ups)
        uow.session.flush()
        uow.session.add_all([Delivery(team_id="T0TEST", kind=REMINDER, subject_id=f.id, dedupe_key=reminder_key(f.id, f.due_at),
                                      payload={"due": int(f.due_at.timestamp())}, due_at=started, scheduled_for=started, created_at=started)
                             for f in follow_ups])
        uow.commit()
    for channel, name in (("C0SOLUTIONS", "solutions"), ("C0ENGINEERING", "engineering")):  # the stages' alert channels
        fake_slack.add_channel(channel, name)
    fake_slack.stamp_messages_with(time.time)  # the killed process runs on the real clock
    fake_slack.hang_next("chat.postMessage", seconds=0.05, times=reminders)  # slow enough for the kill to land mid-delivery
    config_path = tmp_path / "oppbot.toml"
    config_path.write_text(TEST_CONFIG)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_SIGNING_SECRET": "s3cret",
           "SLACK_API_URL": fake_slack.api_url, "PORT": str(free_port()), "DATABASE_URL": database_url, "OPPBOT_CONFIG": str(config_path),
           "LOG_LEVEL": "WARNING"}
    log = tmp_path / "oppbot.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                fake_slack.wait_for("chat.postMessage", reminders // 2, timeout=0.5, predicate=lambda call: call.response.get("ok") is True)
                break
            except AssertionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"oppbot run did not deliver; its log:\n{log.read_text()[-3000:]}") from None
    finally:
        process.kill()  # SIGKILL: no shutdown, leases held, outcomes unrecorded
        process.wait(timeout=10)
    fake_slack.wait_hanging(lambda n: n == 0)  # posts in flight when it died still reach Slack
    posted_by_the_dead = len(fake_slack.messages())
    recorded = sum(1 for row in rows(engine, Delivery, kind=REMINDER) if row.status == SENT)
    assert posted_by_the_dead < reminders, "the process finished before it was killed"
    assert recorded < posted_by_the_dead, "the kill landed where nothing was in doubt"

    clock = FakeClock(datetime.now(timezone.utc) + LEASE + timedelta(seconds=1))
    dispatcher = create_app(settings, clock=clock, engine=engine, config=config).dispatcher
    for _ in range(5):
        dispatcher.run_once(kinds=(REMINDER,), plan=False)
        if all(row.status == SENT for row in rows(engine, Delivery, kind=REMINDER)):
            break
        clock.advance(minutes=1)
    in_slack = [m for m in fake_slack.messages() if m["text"].startswith("Follow-up due: crash reminder")]
    assert Counter(m["text"].split(" — ")[0] for m in in_slack) == Counter({f"Follow-up due: crash reminder {i}": 1 for i in range(reminders)})
    delivered = rows(engine, Delivery, kind=REMINDER)
    assert all(row.status == SENT for row in delivered)
    assert {row.message_ts for row in delivered} == {m["ts"] for m in in_slack}


# ----- the migration ----------------------------------------------------------------------------------


def test_the_migration_adds_the_doubt_and_rows_claimed_before_it_have_none(empty_database):
    with migrating(*empty_database) as (connection, config):
        command.upgrade(config, "0006")
        connection.execute(text("INSERT INTO delivery (team_id, kind, subject_id, dedupe_key, payload, status, due_at, scheduled_for, attempts, "
                                "claimed_by, claimed_until, created_at) VALUES ('T0OLD', 'reminder', 1, 'reminder:1:0', '{}', 'pending', "
                                "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 0, 'old-process', '2026-01-01 00:02:00', '2026-01-01 00:00:00')"))
        command.upgrade(config, "0007")
        assert connection.execute(text("SELECT claimed_by, in_doubt_since FROM delivery")).all() == [("old-process", None)]
        command.downgrade(config, "0006")
        assert "in_doubt_since" not in {c["name"] for c in inspect(connection).get_columns("delivery")}
        command.upgrade(config, "head")
