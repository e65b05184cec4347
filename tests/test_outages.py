"""Nobody left without an answer: during a database outage, after an unexpected failure, and while Slack
hangs, the person who acted is told what happened and whether anything was saved (handlers/listener.py),
and nothing on the way to an ack waits on Slack (Workspaces.context(within_ack), check_owner)."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from bot.outbox.scheduler import JOB_ID, build_scheduler
from bot.slack.ids import WON_BUTTON
from storage.models import Opportunity
from tests.driver import running_app
from tests.outage import outage_of
from tests.support import opp, rows

DOWN = "can't reach its database right now, so nothing was changed"


@pytest.fixture
def outage(engine):
    with outage_of(engine) as outage:
        yield outage


@pytest.fixture
def app(outage, fake_slack, clock, config):
    with running_app(engine=outage.engine, fake=fake_slack, clock=clock, config=config) as driver:
        yield driver


def row_counts(engine) -> dict[str, int]:
    with Session(engine) as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) or 0 for table in SQLModel.metadata.sorted_tables}


def answers(slack, name: str) -> list[str]:
    return [c.params.get("text", "") for c in slack.fake.calls("response_url") if c.params["_name"] == name]


def last_response_name(slack) -> str:
    return slack.fake.calls("response_url")[-1].params["_name"]


def new_form(slack) -> dict:
    slack.command("new Acme")
    slack.executor.drain()
    return slack.last_view()


def test_during_a_database_outage_everyone_who_acts_is_told_and_nothing_is_saved(app, outage, caplog):
    slack = app
    assert slack.create("Before the outage").status == 200
    slack.executor.drain()
    form = new_form(slack)  # opened before the outage, submitted during it
    deal = opp(slack)
    before = row_counts(outage.engine)
    caplog.clear()
    slack.deliver_after_each = ()  # the delivery lanes wait out the outage on their own
    outage.cut()

    commands = ["list", "show OPP-1", "won OPP-1", "stage OPP-1 2", "lost OPP-1 too expensive", "followup OPP-1 tomorrow call", "new During"]
    replies = [slack.command(text) for text in commands]
    clicked = slack.click(WON_BUTTON, value=str(deal.id))
    submitted = slack.submit(form, {"name": "During", "customer": "Acme"})
    opened = slack.event({"type": "app_home_opened", "user": "U0REP1", "tab": "home"})
    slack.executor.drain()

    assert [r.status for r in (*replies, clicked, submitted, opened)] == [200] * (len(commands) + 3)
    told = [text for c in slack.fake.calls("response_url") for text in [c.params.get("text", "")] if DOWN in text]
    assert len(told) == len(commands) + 1, "every command and the click is answered"
    errors = submitted.json["errors"]
    assert submitted.json["response_action"] == "errors" and DOWN in next(iter(errors.values())), "the form stays open with the error"
    [home] = [c for c in slack.fake.calls("views.publish") if c.params["user_id"] == "U0REP1"][-1:]
    assert DOWN in json.dumps(home.params["view"])
    failures = [r for r in caplog.records if r.name.startswith("handlers") and r.levelno >= logging.WARNING]
    assert len(failures) == len(commands) + 3, "one line per failure"
    lane = build_scheduler(slack.oppbot.dispatcher, 60).lanes[JOB_ID]
    for _ in range(3):
        lane.run_once()
    assert len([r for r in caplog.records if r.name == "bot.outbox.scheduler"]) == 1, "one line per outage from a delivery lane"
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("handlers", "bot"))], "no traceback storm"

    outage.restore()
    assert row_counts(outage.engine) == before, "nothing was saved during the outage"
    slack.command("won OPP-1")
    slack.executor.drain()
    assert opp(slack).status == "won", "the app recovers by itself"


def test_an_unexpected_failure_after_the_ack_says_whether_the_change_was_saved(slack, monkeypatch, caplog):
    assert slack.create("Deal").status == 200
    slack.executor.drain()
    deals = slack.oppbot.services.deals
    win = deals.win

    def win_then_fail(*args, **kwargs):
        win(*args, **kwargs)
        raise RuntimeError("a bug after the commit")

    monkeypatch.setattr(deals, "win", win_then_fail)
    slack.command("won OPP-1")
    slack.executor.drain()
    [told] = answers(slack, last_response_name(slack))
    reference = told.split("reference ")[1].split(")")[0]
    assert told.startswith(":warning: Your change was saved") and opp(slack).status == "won"
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records), "the log line carries the same reference"

    def fail_first(*args, **kwargs):
        raise RuntimeError("a bug before any write")

    monkeypatch.setattr(deals, "lose", fail_first)
    slack.command("lost OPP-1 price")
    slack.executor.drain()
    [told] = answers(slack, last_response_name(slack))
    assert "nothing was changed" in told and "reference" in told


def test_a_form_is_answered_while_slack_hangs_on_the_owner_lookup(slack):
    form = new_form(slack)
    release = slack.fake.hang_next("users.info", release=threading.Event(), times=5)
    try:
        reply = slack.submit(form, {"name": "Owned by a colleague", "customer": "Acme", "owner": "U0REP2"})
        assert reply.status == 200 and reply.body in ("", "null"), "acked, the form closes"
    finally:
        release.set()
    slack.executor.drain()
    [deal] = rows(slack, Opportunity)
    assert deal.owner_id == "U0REP2"


def test_the_first_request_does_not_wait_on_auth_test(slack):
    release = slack.fake.hang_next("auth.test", release=threading.Event())
    try:
        assert slack.command("help").status == 200
        assert slack.fake.hanging == 0, "Bolt reuses the sign-in's auth.test"
    finally:
        release.set()


def test_a_reply_slack_drops_after_the_change_was_saved_is_followed_by_one_that_says_so(slack, caplog):
    assert slack.create("Deal").status == 200
    slack.executor.drain()
    slack.fake.hang_next("response_url", seconds=0.1, then="drop", times=2)  # the reply, and its one retry
    slack.command("won OPP-1")
    slack.executor.drain()
    assert opp(slack).status == "won"
    [told] = answers(slack, last_response_name(slack))
    assert told.startswith(":warning: Your change was saved, but Slack didn't answer")
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("handlers", "bot"))]


def test_a_form_slack_fails_to_open_is_answered(slack):
    slack.fake.hang_next("views.open", seconds=0.1, then="drop", times=3)  # the call and its two retries
    slack.command("new Acme")
    slack.executor.drain()
    [told] = answers(slack, last_response_name(slack))
    assert "Slack didn't let me open the form" in told
