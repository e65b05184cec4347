"""Follow-ups and their reminders, driven by a moved clock: due, snoozed, done, nudged, stalled,
caught up after an outage, delivered through Slack failures, shared between processes."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlmodel import Session

from bot.outbox.dispatcher import MAX_ATTEMPTS, Dispatcher
from bot.slack.gateway import SlackGateway
from bot.slack.ids import ADD_FOLLOW_UP_BUTTON, DONE_BUTTON, SNOOZE_SELECT, STAGE_SELECT
from storage.db import UnitOfWork
from storage.models import Delivery, FollowUp
from tests.conftest import START
from tests.driver import running_app


def follow_ups(engine, **where) -> list[FollowUp]:
    with Session(engine) as session:
        query = select(FollowUp).order_by(FollowUp.id)
        for key, value in where.items():
            query = query.where(getattr(FollowUp, key) == value)
        return list(session.scalars(query))


def deliveries(engine, kind: str | None = None) -> list[Delivery]:
    with Session(engine) as session:
        query = select(Delivery).order_by(Delivery.id)
        if kind:
            query = query.where(Delivery.kind == kind)
        return list(session.scalars(query))


def reminder_dms(fake, user: str = "U0REP1") -> list:
    return [c for c in fake.calls("chat.postMessage")
            if c.status == 200 and c.response.get("ok") and c.params["channel"] == f"D{user}" and c.params.get("text", "").startswith("Follow-up due")]


def opp_id(slack, number: int = 1) -> int:
    return slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=number).id


@pytest.fixture
def deal(slack):
    assert slack.create("Acme rollout").status == 200
    return opp_id(slack)


# ----- creating follow-ups --------------------------------------------------------------------

@pytest.mark.parametrize("text, expected_local", [
    ("in 3 days call the buyer back", datetime(2026, 12, 4, 17, 0)),  # now is 17:00 in Shanghai
    ("tomorrow 9am send the quote", datetime(2026, 12, 2, 9, 0)),
    ("friday demo prep", datetime(2026, 12, 4, 9, 0)),
    ("2026-12-03 14:00 review the contract", datetime(2026, 12, 3, 14, 0)),
    ("next monday kickoff", datetime(2026, 12, 7, 9, 0)),
])
def test_followup_command_reads_when_in_the_users_time_zone(slack, deal, text, expected_local):
    slack.command(f"followup OPP-1 {text}")
    [row] = follow_ups(slack.oppbot.engine)
    assert row.due_at == expected_local.replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc)
    assert row.text == text.split(" ", 2 if text.startswith(("in ", "next ", "2026")) else 1)[-1] or row.text
    assert row.assignee_id == "U0REP1" and row.status == "pending"
    assert "Follow-up on OPP-1" in slack.last_response()["text"]
    [reminder] = deliveries(slack.oppbot.engine, "reminder")
    assert reminder.due_at == row.due_at and reminder.status == "pending"


@pytest.mark.parametrize("text, message", [
    ("OPP-1 someday call", "can't read “someday call” as a time"),
    ("OPP-1 2026-11-01 call", "is in the past"),
    ("OPP-1 2026-02-30 call", "is not a real date"),
    ("OPP-1 tomorrow", "Say what to do after the time"),
    ("OPP-1 in 2000 weeks call", "more than three years away"),
    ("OPP-9 tomorrow call", "OPP-9 doesn't exist"),
])
def test_followup_command_rejects_what_it_cannot_read_and_stores_nothing(slack, deal, text, message):
    slack.command(f"followup {text}")
    assert message in slack.last_response()["text"]
    assert follow_ups(slack.oppbot.engine) == []
    assert deliveries(slack.oppbot.engine, "reminder") == []


def test_followup_command_usage_error_is_answered_with_help(slack, deal):
    reply = slack.command("followup OPP-1")
    assert reply.status == 200 and "Usage: /opp followup OPP-12 &lt;when&gt; &lt;what&gt;" in reply.body


def test_another_rep_cannot_add_followups_to_my_deal(slack, deal):
    slack.command("followup OPP-1 tomorrow call", user="U0REP2")
    assert "belongs to <@U0REP1>" in slack.last_response()["text"]
    assert follow_ups(slack.oppbot.engine) == []


def test_the_modal_with_a_quick_choice_and_with_date_and_time(slack, deal):
    slack.click(ADD_FOLLOW_UP_BUTTON, value=str(deal))
    view = slack.last_view()
    assert view["callback_id"] == "new_follow_up"
    reply = slack.submit(view, {"what": "Send the proposal", "quick": "tomorrow", "assignee": "U0REP2"})
    assert reply.status == 200 and reply.body == ""
    reply = slack.submit(view, {"what": "Call legal", "date": "2026-12-05", "time": "15:30", "assignee": "U0REP1"})
    assert reply.status == 200 and reply.body == ""
    first, second = follow_ups(slack.oppbot.engine)
    shanghai = ZoneInfo("Asia/Shanghai")  # the submitter's Slack time zone
    assert (first.text, first.assignee_id, first.due_at) == ("Send the proposal", "U0REP2", datetime(2026, 12, 2, 9, 0, tzinfo=shanghai))
    assert second.due_at == datetime(2026, 12, 5, 15, 30, tzinfo=shanghai)
    # the posted card now shows the next follow-up
    card = slack.fake.calls("chat.update")[-1].params["blocks"]
    assert any("Next follow-up" in b.get("text", {}).get("text", "") and "Send the proposal" in b["text"]["text"] for b in card)


@pytest.mark.parametrize("values, block, message", [
    ({"what": "", "quick": "tomorrow"}, "what", "Say what to do"),
    ({"what": "x" * 501, "quick": "tomorrow"}, "what", "at most 500"),
    ({"what": "Call"}, "date", "Pick a date"),
    ({"what": "Call", "date": "2026-11-20"}, "date", "in the past"),
    ({"what": "Call", "date": "2026-12-01", "time": "08:00"}, "date", "in the past"),  # 08:00 Shanghai is before now (17:00)
    ({"what": "Call", "quick": "someday"}, "quick", "Pick one of the choices"),
])
def test_the_modal_points_at_the_wrong_field(slack, deal, values, block, message):
    slack.click(ADD_FOLLOW_UP_BUTTON, value=str(deal))
    reply = slack.submit(slack.last_view(), {"assignee": "U0REP1", **values})
    assert reply.json["response_action"] == "errors"
    assert message in reply.json["errors"][block]
    assert follow_ups(slack.oppbot.engine) == []


def test_after_create_and_after_a_stage_change_a_followup_is_offered_only_when_none_is_pending(slack, deal):
    [offer] = slack.fake.calls("chat.postEphemeral")
    assert any(e.get("action_id") == ADD_FOLLOW_UP_BUTTON for b in offer.params["blocks"] if b["type"] == "actions" for e in b["elements"])
    stages = slack.oppbot.services.workspaces.pipelines("T0TEST").default.stages
    slack.click(STAGE_SELECT, selected=f"{deal}:{stages[1].id}")
    assert "blocks" in slack.last_response(), "no follow-up pending: the confirmation offers one"
    slack.command("followup OPP-1 tomorrow call")
    slack.click(STAGE_SELECT, selected=f"{deal}:{stages[2].id}")
    assert "moved from" in slack.last_response()["text"] and "blocks" not in slack.last_response()


# ----- reminders ------------------------------------------------------------------------------

def test_a_reminder_is_sent_once_when_due_and_not_before(slack, deal):
    slack.command("followup OPP-1 in 2 minutes call the buyer")
    dispatcher = slack.oppbot.dispatcher
    slack.clock.advance(seconds=119)
    assert dispatcher.run_once().sent == 0
    slack.clock.advance(seconds=1)
    assert dispatcher.run_once().sent == 1
    assert dispatcher.run_once().sent == 0
    [dm] = reminder_dms(slack.fake)
    assert "call the buyer" in dm.params["text"] and "OPP-1" in dm.params["text"] and "Acme Corp" in dm.params["text"]
    actions = [e["action_id"] for b in dm.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == [DONE_BUTTON, SNOOZE_SELECT, "card_details"]
    assert "was due" not in str(dm.params["blocks"])
    assert slack.fake.calls("conversations.open")[-1].params["users"] == "U0REP1"


def reminder_click(slack, dm, action_id, **kwargs):
    message_ts = slack.fake.calls("chat.postMessage")[-1].response["ts"] if dm is None else dm.response["ts"]
    block_id = next(b["block_id"] for b in dm.params["blocks"] if b["type"] == "actions")
    return slack.interact({
        "type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": kwargs.pop("user", "U0REP1")}, "trigger_id": "t-rem",
        "container": {"type": "message", "channel_id": dm.params["channel"], "message_ts": message_ts, "is_ephemeral": False},
        "channel": {"id": dm.params["channel"]}, "response_url": slack.fake.response_url("rem"),
        "actions": [{"action_id": action_id, "block_id": block_id, **kwargs}],
    })


def test_done_updates_the_dm_in_place_and_a_double_click_changes_nothing(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.oppbot.dispatcher.run_once()
    [dm] = reminder_dms(slack.fake)
    reminder_click(slack, dm, DONE_BUTTON, type="button", value=str(follow_ups(slack.oppbot.engine)[0].id))
    [row] = follow_ups(slack.oppbot.engine)
    assert (row.status, row.done_by, row.done_at) == ("done", "U0REP1", slack.clock.now())
    # the reminder DM is redrawn in place through the click's response_url
    update = [r for r in slack.responses() if r.get("replace_original")]
    assert len(update) == 1 and "Done" in update[0]["text"]
    reminder_click(slack, dm, DONE_BUTTON, type="button", value=str(row.id))
    assert "Already done" in slack.last_response()["text"]
    assert follow_ups(slack.oppbot.engine)[0].done_at == row.done_at
    # done: no nudge a day later
    slack.clock.advance(hours=25)
    slack.oppbot.dispatcher.run_once()
    assert len([c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "DU0REP1"]) == 1


def test_only_the_assignee_owner_manager_or_admin_may_click(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.oppbot.dispatcher.run_once()
    [dm] = reminder_dms(slack.fake)
    row = follow_ups(slack.oppbot.engine)[0]
    reminder_click(slack, dm, DONE_BUTTON, type="button", value=str(row.id), user="U0OTHER")
    assert "only they, the deal's owner" in slack.last_response()["text"]
    assert follow_ups(slack.oppbot.engine)[0].status == "pending"
    reminder_click(slack, dm, DONE_BUTTON, type="button", value=str(row.id), user="U0MGR")
    assert follow_ups(slack.oppbot.engine)[0].status == "done"


def test_snooze_moves_the_reminder_and_it_comes_back(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.oppbot.dispatcher.run_once()
    [dm] = reminder_dms(slack.fake)
    row = follow_ups(slack.oppbot.engine)[0]
    option = {"text": {"type": "plain_text", "text": "1 hour"}, "value": f"{row.id}:1h"}
    reminder_click(slack, dm, SNOOZE_SELECT, type="static_select", selected_option=option)
    reminder_click(slack, dm, SNOOZE_SELECT, type="static_select", selected_option=option)  # double click
    assert "Already snoozed" in slack.last_response()["text"]
    assert follow_ups(slack.oppbot.engine)[0].due_at == START + timedelta(hours=2)
    assert "Snoozed until" in [r for r in slack.responses() if r.get("replace_original")][-1]["text"]
    slack.clock.advance(minutes=59)
    assert slack.oppbot.dispatcher.run_once().sent == 0
    slack.clock.advance(minutes=1)
    assert slack.oppbot.dispatcher.run_once().sent == 1
    assert len(reminder_dms(slack.fake)) == 2


def test_snooze_tomorrow_is_nine_in_the_clickers_time_zone(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.oppbot.dispatcher.run_once()
    [dm] = reminder_dms(slack.fake)
    row = follow_ups(slack.oppbot.engine)[0]
    reminder_click(slack, dm, SNOOZE_SELECT, type="static_select", selected_option={"text": {"type": "plain_text", "text": "t"}, "value": f"{row.id}:tomorrow"})
    assert follow_ups(slack.oppbot.engine)[0].due_at == datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_a_pending_followup_is_nudged_once_24_hours_after_it_fell_due(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.oppbot.dispatcher.run_once()
    slack.clock.advance(hours=23, minutes=59)
    slack.oppbot.dispatcher.run_once()
    assert len([c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "DU0REP1"]) == 1
    slack.clock.advance(minutes=1)
    slack.oppbot.dispatcher.run_once()
    slack.clock.advance(days=3)
    slack.oppbot.dispatcher.run_once()
    dms = [c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "DU0REP1"]
    assert len(dms) == 2
    assert "Still to do" in str(dms[1].params["blocks"])


def test_time_zones_tomorrow_9am_is_nine_for_each_user(slack):
    slack.create("Deal A", user="U0REP1")  # Asia/Shanghai
    slack.create("Deal B", user="U0REP2")  # America/Los_Angeles
    slack.command("followup OPP-1 tomorrow 9am call", user="U0REP1")
    slack.command("followup OPP-2 tomorrow 9am call", user="U0REP2")
    first, second = follow_ups(slack.oppbot.engine)
    assert first.due_at.astimezone(ZoneInfo("Asia/Shanghai")).hour == 9
    assert second.due_at.astimezone(ZoneInfo("America/Los_Angeles")).hour == 9
    # now is 09:00 UTC on Dec 1 = 01:00 in Los Angeles: "tomorrow" is Dec 2 there
    assert second.due_at == datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    slack.clock.set(first.due_at)
    slack.oppbot.dispatcher.run_once()
    assert len(reminder_dms(slack.fake, "U0REP1")) == 1 and reminder_dms(slack.fake, "U0REP2") == []
    slack.clock.set(second.due_at)
    slack.oppbot.dispatcher.run_once()
    assert len(reminder_dms(slack.fake, "U0REP2")) == 1


def test_a_stalled_deal_is_nudged_once_per_stage_entry(slack, deal):
    stages = slack.oppbot.services.workspaces.pipelines("T0TEST").default.stages  # Prospect: 14 days
    slack.clock.advance(days=14, hours=23)  # 14 whole days = Prospect's max_days: not over it yet
    slack.oppbot.dispatcher.run_once()
    stalled = lambda: [c for c in slack.fake.calls("chat.postMessage") if "has stalled" in c.params.get("text", "")]  # noqa: E731
    assert stalled() == []
    slack.clock.advance(hours=1)  # 15 days
    slack.oppbot.dispatcher.run_once()
    slack.clock.advance(days=5)
    slack.oppbot.dispatcher.run_once()
    [nudge] = stalled()
    assert nudge.params["channel"] == "DU0REP1" and "15 days in Prospect; stalled after 14" in nudge.params["text"]
    elements = [e.get("action_id") for b in nudge.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert STAGE_SELECT in elements and ADD_FOLLOW_UP_BUTTON in elements
    # a new stage entry earns its own nudge; leaving the stage early cancels it
    slack.click(STAGE_SELECT, selected=f"{deal}:{stages[1].id}")
    slack.clock.advance(days=10)
    slack.click(STAGE_SELECT, selected=f"{deal}:{stages[2].id}")
    slack.clock.advance(days=30)  # Technical evaluation's max_days: not over it yet
    slack.oppbot.dispatcher.run_once()
    assert len(stalled()) == 1
    slack.clock.advance(days=1)
    slack.oppbot.dispatcher.run_once()
    assert len(stalled()) == 2 and "31 days in Technical evaluation; stalled after 30" in stalled()[1].params["text"]


def test_reminders_that_fell_due_during_an_outage_are_sent_after_restart(engine, fake_slack, clock, config):
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        slack.create("Acme rollout")
        slack.command("followup OPP-1 in 2 minutes call the buyer")
    clock.advance(hours=3)  # the bot was down
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        assert slack.oppbot.dispatcher.run_once().sent == 1
        [dm] = reminder_dms(fake_slack)
        assert "It was due at" in str(dm.params["blocks"]) and "I was offline then" in str(dm.params["blocks"])


def test_a_429_storm_and_a_5xx_burst_lose_nothing_and_send_once(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    fake, dispatcher = slack.fake, slack.oppbot.dispatcher
    fake.rate_limit_next("chat.postMessage", retry_after=30, times=3)
    fake.server_error_next("conversations.open", status=503, times=2)
    stats = dispatcher.run_once()
    assert stats.sent == 0 and stats.retried == 1
    [row] = deliveries(slack.oppbot.engine, "reminder")
    assert row.status == "pending" and row.attempts == 1
    for _ in range(10):
        slack.clock.advance(minutes=5)
        dispatcher.run_once()
    [row] = deliveries(slack.oppbot.engine, "reminder")
    assert row.status == "sent"
    assert len(reminder_dms(fake)) == 1
    assert len([c for c in fake.calls("chat.postMessage") if c.status == 429]) == 3
    assert len([c for c in fake.calls("conversations.open") if c.status == 503]) == 2


def test_a_429_is_retried_after_retry_after_not_before(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.fake.rate_limit_next("chat.postMessage", retry_after=45)
    slack.oppbot.dispatcher.run_once()
    [row] = deliveries(slack.oppbot.engine, "reminder")
    assert row.due_at == slack.clock.now() + timedelta(seconds=45)
    slack.clock.advance(seconds=44)
    assert slack.oppbot.dispatcher.run_once().sent == 0
    slack.clock.advance(seconds=1)
    assert slack.oppbot.dispatcher.run_once().sent == 1


def test_a_burst_of_reminders_to_one_rep_leaves_at_slacks_rate_and_each_once(slack, deal):
    for n in range(6):
        slack.command(f"followup OPP-1 in 1 hour call {n}")
    slack.clock.advance(hours=1)
    dispatcher = slack.oppbot.dispatcher

    stats = dispatcher.run_once()
    assert (stats.sent, stats.paced, stats.retried, stats.failed) == (3, 3, 0, 0)  # a burst of three, then one a second
    put_back = [r for r in deliveries(slack.oppbot.engine, "reminder") if r.status == "pending"]
    assert sorted((r.due_at - slack.clock.now()).total_seconds() for r in put_back) == [1, 2, 3]
    assert [r.attempts for r in put_back] == [0, 0, 0]
    for second in range(3):
        slack.clock.advance(seconds=1)
        stats = dispatcher.run_once()
        assert (stats.sent, stats.paced) == (1, 0), second  # each row kept its slot: none is put back twice
    rows = deliveries(slack.oppbot.engine, "reminder")
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1)] * 6
    texts = [dm.params["text"] for dm in reminder_dms(slack.fake)]
    assert len(texts) == len(set(texts)) == 6  # one DM per follow-up
    assert not [c for c in slack.fake.calls("chat.postMessage") if c.status == 429]


def test_429s_never_use_up_a_reminders_attempts(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.fake.rate_limit_next("chat.postMessage", retry_after=1, times=MAX_ATTEMPTS + 4)
    for _ in range(MAX_ATTEMPTS + 5):
        slack.oppbot.dispatcher.run_once()
        slack.clock.advance(seconds=3)
    [row] = deliveries(slack.oppbot.engine, "reminder")
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(reminder_dms(slack.fake)) == 1
    assert len([c for c in slack.fake.calls("chat.postMessage") if c.status == 429]) == MAX_ATTEMPTS + 4


def test_repeated_failure_is_flagged_with_its_reason_and_counted(slack, deal):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    slack.fake.server_error_next("conversations.open", status=500, times=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        slack.oppbot.dispatcher.run_once()
        slack.clock.advance(hours=2)
    [row] = deliveries(slack.oppbot.engine, "reminder")
    assert (row.status, row.attempts, row.last_error) == ("failed", MAX_ATTEMPTS, "internal_error")
    assert slack.oppbot.dispatcher.failed_count() == 1
    health = slack.get("/healthz")
    assert health.status == 200 and health.json["database"] == "ok" and health.json["outbox"]["failed_deliveries"] == 1


def test_a_claim_whose_process_died_is_sent_after_the_lease_expires(slack, deal, engine):
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    uow = lambda write=False: UnitOfWork(engine, write=write)  # noqa: E731
    dead = Dispatcher(uow, slack.clock, owner="dead-process")
    assert len(dead.claim("T0TEST")) == 1  # ...and the process is killed before sending
    assert slack.oppbot.dispatcher.run_once().sent == 0
    slack.clock.advance(minutes=2, seconds=1)
    assert slack.oppbot.dispatcher.run_once().sent == 1
    assert len(reminder_dms(slack.fake)) == 1


@pytest.mark.postgres
def test_two_claim_loops_on_postgres_send_2000_reminders_exactly_once(postgres_engine, fake_slack, clock, config):
    engine = postgres_engine
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        slack.create("Acme rollout")
        deal_id = opp_id(slack)
    due = START + timedelta(minutes=1)
    with UnitOfWork(engine, write=True) as uow:
        rows = [FollowUp(team_id="T0TEST", opportunity_id=deal_id, text=f"task {i}", due_at=due, assignee_id="U0REP1",
                         status="pending", created_by="U0REP1", created_at=START) for i in range(2000)]
        uow.session.add_all(rows)
        uow.session.flush()
        uow.session.add_all([Delivery(team_id="T0TEST", kind="reminder", subject_id=r.id, dedupe_key=f"reminder:{r.id}:{int(due.timestamp())}",
                                      payload={"due": int(due.timestamp())}, due_at=due, scheduled_for=due, created_at=START) for r in rows])
        uow.commit()
    clock.advance(minutes=1)
    fake_slack.reset()
    fake_slack.add_user("U0REP1", tz="Asia/Shanghai")
    uow = lambda write=False: UnitOfWork(engine, write=write)  # noqa: E731
    from bot.followups.service import FollowUpSenders

    results = {}

    def loop(name: str) -> None:
        gateway = SlackGateway(WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url))
        dispatcher = Dispatcher(uow, clock, owner=name, batch=50)
        FollowUpSenders(uow, gateway).register(dispatcher)
        results[name] = dispatcher.run_once(max_batches=1000).sent

    threads = [threading.Thread(target=loop, args=(name,)) for name in ("one", "two")]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    texts = [c.params["text"] for c in fake_slack.calls("chat.postMessage")]
    assert len(texts) == 2000 and len(set(texts)) == 2000
    assert results["one"] + results["two"] == 2000 and results["one"] > 0 and results["two"] > 0
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Delivery).where(Delivery.kind == "reminder", Delivery.status == "sent")) == 2000
    print(f"two claim loops: {results}, 2000 reminders in {elapsed:.1f} s ({2000 / elapsed:.0f}/s), each sent once")


def test_operators_list_pending_overdue_and_failed_deliveries(slack, deal, monkeypatch, capsys):
    from bot import cli

    slack.command("followup OPP-1 in 1 hour call the buyer")
    slack.command("followup OPP-1 in 3 days send the quote")
    slack.clock.advance(hours=1)
    slack.fake.server_error_next("conversations.open", status=500, times=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        slack.oppbot.dispatcher.run_once()
        slack.clock.advance(hours=2)
    monkeypatch.setenv("DATABASE_URL", slack.oppbot.engine.url.render_as_string(hide_password=False))
    assert cli.main(["reminders", "--due"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["workspace", "due", "(UTC)", "state"]
    failed = next(line for line in lines if " failed " in line)
    assert "reminder" in failed and "OPP-1" in failed and "U0REP1" in failed and "internal_error" in failed
    pending = [line for line in lines if "send the quote" in line]
    assert len(pending) == 1 and " reminder " in pending[0]
    assert any("stalled" in line and "OPP-1" in line for line in lines)


def test_the_scheduler_runs_quick_deliveries_and_digests_in_separate_lanes(slack, deal):
    from bot.outbox.scheduler import JOB_ID, SLOW_JOB_ID, build_scheduler

    scheduler = build_scheduler(slack.oppbot.dispatcher, 30)
    assert set(scheduler.lanes) == {JOB_ID, SLOW_JOB_ID} and scheduler.lanes[JOB_ID].tick_seconds == 30
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    scheduler.lanes[SLOW_JOB_ID].run_once()  # the digest lane sends no reminders
    assert reminder_dms(slack.fake) == []
    wait = scheduler.lanes[JOB_ID].run_once()
    assert len(reminder_dms(slack.fake)) == 1
    assert wait == 30  # nothing else pending: sleep a whole tick
