"""Manager digests, funnel, reports, export and teams, end to end through the fake Slack."""

from __future__ import annotations

import csv
import dataclasses
import io
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.digests.views import digest_message
from bot.domain.money import Money
from bot.domain.values import OpportunityDraft, Pipeline
from bot.i18n import ENGLISH, translator
from bot.services import build_services
from bot.slack.gateway import SlackGateway
from bot.slack.ids import DIGEST_FULL_BUTTON
from bot.workspace.config import parse_config
from storage import analytics, visits
from storage.db import UnitOfWork
from storage.models import Delivery, Workspace
from tests.conftest import START, TEST_CONFIG
from tests.driver import running_app
from tests.fakeslack import check_blocks, check_view

EN = translator(ENGLISH)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DIGEST_CONFIG = TEST_CONFIG.replace('members = ["U0REP1", "U0REP2"]', 'members = ["U0REP1", "U0REP2"]\nchannel = "C0EAST"\ntimezone = "Asia/Shanghai"')


@pytest.fixture
def config():
    return parse_config(DIGEST_CONFIG, "digest.toml")


def pipeline_of(slack):
    return slack.oppbot.services


def add_deal(slack, owner="U0REP1", amount="1000", stage=0, **extra):
    pipeline = pipeline_of(slack)
    actor = pipeline.workspaces.context("T0TEST", owner)
    stages = pipeline.workspaces.pipelines("T0TEST").default.stages
    return pipeline.deals.create(actor, OpportunityDraft(name=extra.pop("name", "Deal"), customer="Cust", owner_id=owner, stage_id=stages[stage].id,
                                                   currency=extra.pop("currency", "USD"), amount=Decimal(amount) if amount else None, **extra), channel_id=None)[0]


def digests_sent(fake, target):
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == target and "pipeline digest" in c.params.get("text", "")
            and c.status == 200]


def team(slack):
    return slack.oppbot.services.teams.all("T0TEST")[0]


# ----- content --------------------------------------------------------------------------------

def usd(amount: str) -> Money:
    return Money("USD", Decimal(amount))


def test_digest_numbers_match_what_happened(slack):
    clock = slack.clock
    pipeline = pipeline_of(slack)
    manager = pipeline.workspaces.context("T0TEST", "U0MGR")
    stages = pipeline.workspaces.pipelines("T0TEST").default.stages
    a = add_deal(slack, amount="10000", name="Alpha")
    b = add_deal(slack, owner="U0REP2", amount="20000", name="Beta")
    c = add_deal(slack, amount="5000", name="Gamma")
    add_deal(slack, amount="999", name="Outsider", owner="U0OTHER")  # not on the team
    clock.advance(minutes=1)
    since = clock.now()
    clock.advance(hours=1)
    pipeline.deals.move(manager, opp_id=a.id, stage_id=stages[2].id)       # advanced
    pipeline.deals.move(manager, opp_id=b.id, stage_id=stages[1].id)
    pipeline.deals.move(manager, opp_id=b.id, stage_id=stages[0].id)       # moved back (latest move)
    pipeline.deals.win(manager, opp_id=c.id)                               # won
    d = add_deal(slack, amount="7000", name="Delta")           # new
    pipeline.deals.lose(manager, "budget cut", opp_id=d.id)                # lost
    clock.advance(minutes=1)  # the digest's window is [since, now): a change at `now` belongs to the next one
    data = slack.oppbot.services.digests.build("T0TEST", team(slack), since)
    by_stage = {row.stage_id: row for row in data.own.pipeline}
    # open: Alpha 10000 in Technical evaluation (50%), Beta 20000 in Prospect (10%)
    assert (by_stage[stages[2].id].count, by_stage[stages[2].id].amount, by_stage[stages[2].id].weighted_amount) == (1, usd("10000.00"), usd("5000.00"))
    assert (by_stage[stages[0].id].count, by_stage[stages[0].id].amount, by_stage[stages[0].id].weighted_amount) == (1, usd("20000.00"), usd("2000.00"))
    assert sorted(d.name for d in data.own.changes.advanced.deals) == ["Alpha", "Beta"]  # Beta went forward, then back
    assert [d.name for d in data.own.changes.moved_back.deals] == ["Beta"]
    assert [d.name for d in data.own.changes.won.deals] == ["Gamma"]
    assert [(d.name, d.lost_reason) for d in data.own.changes.lost.deals] == [("Delta", "budget cut")]
    assert [d.name for d in data.own.changes.new.deals] == ["Delta"]
    assert (data.own.win_rate.won_count, data.own.win_rate.lost_count, data.own.win_rate.rate_by_count) == (1, 1, 0.5)
    assert data.own.win_rate.rate_by_amount == pytest.approx(5000 / 12000)
    text, message = digest_message(data, pipeline.workspaces.pipelines("T0TEST").default, t=EN)
    assert check_blocks(message, "message") == []
    rendered = str(message)
    for expected in ("*Open pipeline:* 2 deals · USD 30,000 · weighted USD 7,000", "*Advanced (2)*", "Prospect → Technical evaluation",
                     "*Moved back (1)*", "*Won (1)*", "— USD 5,000", "*Lost (1)*", "budget cut", "50% by count (1 won, 1 lost)", "Outsider"):
        if expected == "Outsider":
            assert expected not in rendered
        else:
            assert expected in rendered, expected


def test_digest_of_a_team_with_no_deals_and_with_one(slack):
    digests = slack.oppbot.services.digests
    stages = pipeline_of(slack).workspaces.pipelines("T0TEST").default
    _, empty = digest_message(digests.build("T0TEST", team(slack), START - timedelta(days=1)), stages, t=EN)
    assert check_blocks(empty, "message") == [] and "*Open pipeline:* 0 deals" in str(empty) and "Nothing since the last digest." in str(empty)
    add_deal(slack)
    slack.clock.advance(minutes=1)
    _, one = digest_message(digests.build("T0TEST", team(slack), START - timedelta(days=1)), stages, t=EN)
    assert check_blocks(one, "message") == [] and "*Open pipeline:* 1 deal ·" in str(one) and "*New (1)*" in str(one)
    assert "*Average cycle:* no won deals yet" in str(one)


def long_stage_model(slack, names):
    model = pipeline_of(slack).workspaces.pipelines("T0TEST").default
    return Pipeline(tuple(dataclasses.replace(stage, name=name) for stage, name in zip(model.stages, names)))


def rep_funnel(owner, stages, entered, stall=None, ratio=None, finished=True):
    return analytics.RepFunnel(owner, tuple(analytics.RepStage(s.id, None, n, 0, None, n, 1.0, n, 1.0 if finished else None)
                                            for s, n in zip(stages, entered)), stall, ratio)


def reps_section(message):
    [section] = [b for b in message if b.get("text", {}).get("text", "").startswith("*Reps side by side*")]
    return section["text"]["text"]


def test_the_rep_comparison_reads_a_line_per_rep_with_a_150_character_stage_name_intact(slack):
    long_name = "Prospect " + "and qualification with the customer's procurement, legal and security reviews " * 2
    long_name = long_name[:150]
    assert len(long_name) == 150
    stages = long_stage_model(slack, [long_name, "Solution design", "Technical evaluation", "Negotiation"])
    data = slack.oppbot.services.digests.build("T0TEST", team(slack), START - timedelta(days=1))
    data = dataclasses.replace(data, sections=(dataclasses.replace(data.own, reps=analytics.RepFunnels(
        team=rep_funnel(None, stages.stages, [12, 7, 4, 2]),
        reps=(rep_funnel("U0RAY", stages.stages, [8, 5, 3, 1], stall=stages.stages[0].id, ratio=1.3),
              rep_funnel("U0ANN", stages.stages, [4, 2, 1, 1]),
              rep_funnel("U0NEW", stages.stages, [0, 0, 0, 0], finished=False)))),))
    _, message = digest_message(data, stages, t=EN)
    assert check_blocks(message, "message") == []
    assert reps_section(message) == (
        "*Reps side by side*\n"
        f"_Deals entering each stage_ — the team: {long_name} 12 · Solution design 7 · Technical evaluation 4 · Negotiation 2\n"
        f"• <@U0RAY>: deals stay 1.3× the team's time in *{long_name}*; entered {long_name} 8 · Solution design 5 · Technical evaluation 3 · Negotiation 1\n"
        f"• <@U0ANN>: keeps the team's pace in every stage; entered {long_name} 4 · Solution design 2 · Technical evaluation 1 · Negotiation 1\n"
        f"• <@U0NEW>: no finished stage to compare with the team yet; entered {long_name} 0 · Solution design 0 · Technical evaluation 0 · Negotiation 0")


def test_when_the_rep_comparison_runs_out_of_room_whole_stages_and_whole_reps_are_left_out(slack):
    names = [f"{i} " + "very long stage name about the customer's procurement and legal review " * 2 for i in range(1, 5)]
    names = [n[:150] for n in names]
    stages = long_stage_model(slack, names)
    data = slack.oppbot.services.digests.build("T0TEST", team(slack), START - timedelta(days=1))
    reps = tuple(rep_funnel(f"U0REP{i}", stages.stages, [9, 8, 7, 6], stall=stages.stages[3].id, ratio=2.0) for i in range(10))
    data = dataclasses.replace(data, sections=(dataclasses.replace(data.own, reps=analytics.RepFunnels(
        team=rep_funnel(None, stages.stages, [90, 80, 70, 60]), reps=reps)),))
    _, message = digest_message(data, stages, t=EN)
    assert check_blocks(message, "message") == []
    text = reps_section(message)
    assert len(text) <= 3000 and "…" not in text.replace("…and", "")
    lines = text.split("\n")
    # two whole stage names fit in a line's 400 characters; the other two are counted, not cut
    assert lines[1] == f"_Deals entering each stage_ — the team: {names[0]} 90 · {names[1]} 80 · 2 more stages"
    assert lines[2] == f"• <@U0REP0>: deals stay 2.0× the team's time in *{names[3]}*; entered {names[0]} 9 · {names[1]} 8 · 2 more stages"
    shown = [line for line in lines if line.startswith("• ")]
    assert 1 < len(shown) < 10 and lines[-1] == f"…and {10 - len(shown)} more reps"


def test_digest_of_5000_deals_stays_inside_block_kit_limits(slack, engine):
    from storage.models import FollowUp, Opportunity, StageChange

    stages = pipeline_of(slack).workspaces.pipelines("T0TEST").default.stages
    pipeline_of(slack).workspaces.ensure_workspace("T0TEST")
    reps = [f"U0REP{i}" for i in range(3, 40)]
    with UnitOfWork(engine, write=True) as uow:
        uow.session.execute(Opportunity.__table__.insert(), [dict(
            team_id="T0TEST", number=i + 1, name=f"Deal {i} " + "x" * 100, customer="Customer", amount=Decimal(1000 + i), currency="USD",
            stage_id=stages[i % 4].id, status=("open", "open", "won", "lost")[i % 4] if i % 3 else "open", owner_id=(["U0REP1", "U0REP2"] + reps)[i % 39],
            created_by="U0REP1", created_at=START - timedelta(days=i % 60), updated_at=START, stage_entered_at=START - timedelta(days=i % 90),
            lost_reason="price" if i % 4 == 3 else None) for i in range(5000)])
        ids = [row[0] for row in uow.session.execute(select(Opportunity.id).order_by(Opportunity.id))]
        uow.session.execute(StageChange.__table__.insert(), [dict(
            team_id="T0TEST", opportunity_id=opp_id, from_stage_id=None, from_status=None, to_stage_id=stages[i % 4].id, to_status="open",
            changed_by="U0REP1", owner_id="U0REP1", changed_at=START - timedelta(hours=i % 48)) for i, opp_id in enumerate(ids)])
        uow.session.execute(FollowUp.__table__.insert(), [dict(
            team_id="T0TEST", opportunity_id=opp_id, text="call", due_at=START - timedelta(days=1), assignee_id="U0REP1", status="pending",
            created_by="U0REP1", created_at=START) for opp_id in ids[:300]])
        visits.derive(uow.session, "T0TEST")
        uow.commit()
    slack.oppbot.services.teams.add(pipeline_of(slack).workspaces.context("T0TEST", "U0ADMIN").actor, "U0OTHER", "East")
    data = slack.oppbot.services.digests.build("T0TEST", team(slack), START - timedelta(days=1))
    text, message = digest_message(data, pipeline_of(slack).workspaces.pipelines("T0TEST").default, t=EN)
    assert check_blocks(message, "message") == [], check_blocks(message, "message")
    assert len(message) <= 50 and "…and" in str(message)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "close": {"type": "plain_text", "text": "Close"},
            "blocks": digest_message(data, pipeline_of(slack).workspaces.pipelines("T0TEST").default, full=True, t=EN)[1]}
    assert check_view(view) == []


# ----- schedule -------------------------------------------------------------------------------

def test_digests_follow_the_team_schedule_and_catch_up_only_the_latest_missed_one(slack):
    fake, dispatcher, clock = slack.fake, slack.oppbot.dispatcher, slack.clock
    add_deal(slack)
    # Tue 1 Dec 17:00 in Shanghai: today's 08:30 passed before oppbot knew the team: a baseline, nothing sent
    dispatcher.run_once()
    assert digests_sent(fake, "DU0MGR") == []
    clock.set(datetime(2026, 12, 2, 8, 29, tzinfo=SHANGHAI))
    dispatcher.run_once()
    assert digests_sent(fake, "DU0MGR") == []
    clock.set(datetime(2026, 12, 2, 8, 30, tzinfo=SHANGHAI))
    dispatcher.run_once()
    dispatcher.run_once()
    assert len(digests_sent(fake, "DU0MGR")) == 1 and len(digests_sent(fake, "C0EAST")) == 1
    uploads = fake.calls("files.completeUploadExternal")
    assert len(uploads) == 2 and {u.params.get("channel_id") or u.params.get("channels") for u in uploads} == {"DU0MGR", "C0EAST"}
    assert fake.calls("files.getUploadURLExternal") and fake.calls("upload")
    png = fake.uploaded(fake.calls("files.getUploadURLExternal")[0].response["file_id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # down from Wednesday evening to Monday noon: Thu, Fri and Mon were missed; only Monday's is sent
    clock.set(datetime(2026, 12, 7, 12, 0, tzinfo=SHANGHAI))
    dispatcher.run_once()
    dispatcher.run_once()
    sent = digests_sent(fake, "DU0MGR")
    assert len(sent) == 2
    # the weekend (cron 1-5 = Monday to Friday) never gets one
    clock.set(datetime(2026, 12, 12, 9, 0, tzinfo=SHANGHAI))  # Saturday
    dispatcher.run_once()
    with Session(slack.oppbot.engine) as session:
        periods = sorted(d.payload["period"] for d in session.scalars(select(Delivery).where(Delivery.kind == "digest", Delivery.status == "sent")))
    assert periods == ["2026-12-02T00:30:00+00:00", "2026-12-07T00:30:00+00:00", "2026-12-11T00:30:00+00:00"]


def test_digest_now_and_preview_from_the_command_line(slack, monkeypatch, capsys):
    from bot import cli

    add_deal(slack, name="Preview me")
    for key, value in {"SLACK_BOT_TOKEN": slack.fake.bot_token, "SLACK_SIGNING_SECRET": "x", "SLACK_API_URL": slack.fake.api_url,
                       "DATABASE_URL": slack.oppbot.engine.url.render_as_string(hide_password=False), "OPPBOT_CONFIG": ""}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["digest", "--preview", "--team", "East"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("East · pipeline digest\n======================") and "Preview me" in out and "<@" not in out
    assert slack.fake.calls("chat.postMessage") == [] or all("digest" not in c.params.get("text", "") for c in slack.fake.calls("chat.postMessage"))
    assert cli.main(["digest", "--now"]) == 0
    assert "1 digest(s) planned" in capsys.readouterr().out
    assert len(digests_sent(slack.fake, "DU0MGR")) == 1 and len(digests_sent(slack.fake, "C0EAST")) == 1
    assert cli.main(["digest", "--now", "--team", "Nowhere"]) == 2


@pytest.mark.postgres
def test_two_processes_send_one_digest_per_period(postgres_engine, fake_slack, clock, config):
    with running_app(engine=postgres_engine, fake=fake_slack, clock=clock, config=config) as slack:
        add_deal(slack)
        slack.oppbot.dispatcher.run_once()  # baseline
    clock.set(datetime(2026, 12, 2, 8, 30, tzinfo=SHANGHAI))

    def process(name: str) -> None:
        gateway = SlackGateway(WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url))
        services = build_services(postgres_engine, clock, config, gateway, gateway)
        for _ in range(3):
            services.dispatcher.run_once()

    threads = [threading.Thread(target=process, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(digests_sent(fake_slack, "DU0MGR")) == 1 and len(digests_sent(fake_slack, "C0EAST")) == 1
    assert len(fake_slack.calls("files.completeUploadExternal")) == 2


def test_full_report_button_for_the_manager_only(slack):
    add_deal(slack)
    sales_team = team(slack)
    slack.click(DIGEST_FULL_BUTTON, value=str(sales_team.id), user="U0MGR", channel="DU0MGR")
    view = slack.last_view()
    assert check_view(view) == [] and view["title"]["text"] == "East report"
    slack.click(DIGEST_FULL_BUTTON, value=str(sales_team.id), user="U0REP1", channel="DU0REP1")
    assert "is for its manager and admins" in str(slack.last_view()["blocks"])


# ----- teams ----------------------------------------------------------------------------------

def test_team_commands_and_their_permissions(slack):
    slack.command("team", user="U0REP1")
    assert "Manager: <@U0MGR>" in str(slack.last_response()["blocks"]) and "<@U0REP2>" in str(slack.last_response()["blocks"])
    slack.command("team add <@U0OTHER|other>", user="U0REP1")
    assert "Name the team" in slack.last_response()["text"] or "Only East's manager" in slack.last_response()["text"]
    slack.command("team add <@U0OTHER|other> East", user="U0REP1")
    assert "Only East's manager <@U0MGR> or an admin can change the team." in slack.last_response()["text"]
    slack.command("team add <@U0OTHER|other>", user="U0MGR")
    assert slack.last_response()["text"] == "<@U0OTHER> is now on East."
    slack.command("team add <@U0OTHER|other>", user="U0MGR")
    assert "already on East" in slack.last_response()["text"]
    slack.command("team add <@U0BOTUSER|bot>", user="U0MGR")
    assert "A bot can't be on a team" in slack.last_response()["text"]
    slack.command("team remove <@U0OTHER|other>", user="U0ADMIN")
    assert slack.last_response()["text"] == "<@U0OTHER> is no longer on East."
    assert "U0OTHER" not in team(slack).member_ids
    reply = slack.command("team add bob", user="U0MGR")
    assert "Usage: /opp team add @rep" in reply.json["text"]


def test_a_rep_belongs_to_one_team(engine, fake_slack, clock):
    config = parse_config(DIGEST_CONFIG + '\n[[teams]]\nname = "West"\nmanager = "U0ADMIN"\nmembers = ["U0OTHER"]\n', "t.toml")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        slack.command("team add <@U0OTHER> East", user="U0MGR")
        assert "is on West; a rep belongs to one team" in slack.last_response()["text"]


# ----- funnel, report, export -----------------------------------------------------------------

def test_funnel_text_and_chart(slack):
    pipeline = pipeline_of(slack)
    stages = pipeline.workspaces.pipelines("T0TEST").default.stages
    rep = pipeline.workspaces.context("T0TEST", "U0REP1")
    for i in range(4):
        deal = add_deal(slack)
        if i < 2:
            pipeline.deals.move(rep, opp_id=deal.id, stage_id=stages[1].id)
        if i == 0:
            pipeline.deals.win(rep, opp_id=deal.id)
    slack.command("funnel", user="U0REP1")
    reply = slack.last_response()
    assert reply["response_type"] == "ephemeral"
    assert "Prospect → Solution design: 2 of 4 (50%)" in reply["text"] and "Open now: 3 deals" in reply["text"]
    slack.clock.advance(seconds=10)  # the four cards went to the same DM first: the chart waits for its slot there
    slack.deliver()
    upload = slack.fake.calls("files.completeUploadExternal")[-1]
    assert (upload.params.get("channel_id") or upload.params.get("channels")) == "DU0REP1"
    slack.command("funnel <@U0REP1|rep1>", user="U0REP2")
    assert "You can see only your own numbers" in slack.last_response()["text"]
    slack.command("funnel", user="U0MGR")
    assert "Funnel: East" in slack.last_response()["text"]


def test_funnel_converts_other_currencies_or_shows_them_apart(slack):
    """A deal in another currency is never summed as if it were in the workspace's, nor shown as 0 (#14): without a
    rate it is a subtotal of its own; with one it is converted, and the rate and its date are said once."""
    add_deal(slack, amount="1000")
    add_deal(slack, amount="9999", currency="EUR")
    slack.command("funnel", user="U0REP1")
    text = slack.last_response()["text"]
    # both in Prospect (10%): weighted USD 100 + EUR 999.90
    assert "Open now: 2 deals · USD 1,000 + EUR 9,999 · weighted USD 100 + EUR 999.90" in text
    assert text.count("EUR has no exchange rate (`/opp config`), so it is shown apart.") == 1
    with Session(slack.oppbot.engine) as session:
        session.get(Workspace, "T0TEST").exchange_rates = {"EUR": {"rate": "1.1", "set_on": "2026-11-30", "set_by": "U0ADMIN"}}
        session.commit()
    slack.command("funnel", user="U0REP1")
    text = slack.last_response()["text"]
    # 1000 + 9999 x 1.1 = 11998.90; weighted 100 + 999.90 x 1.1 = 100 + 1099.89 = 1199.89
    assert "Open now: 2 deals · USD 11,998.90 · weighted USD 1,199.89" in text
    assert text.count("Amounts in USD, converted: EUR at 1.1, set 2026-11-30.") == 1 and "EUR 9,999" not in text


@pytest.mark.parametrize("text, message", [
    ("report by colour", "I can't report by “colour”"),
    ("report industry", "Usage: /opp report by industry|region|size|tag|month|rep|reason [period]."),
])
def test_bad_report_arguments_get_help(slack, text, message):
    reply = slack.command(text)
    assert message in reply.json["text"]


def test_report_by_industry_and_a_bad_period(slack):
    add_deal(slack, industry="Finance", amount="100")
    add_deal(slack, industry="Finance", amount="300")
    add_deal(slack, industry="Retail", amount="50")
    slack.command("report by industry this month", user="U0ADMIN")
    text = str(slack.last_response()["blocks"])
    assert "*Finance* · 2 deals created · USD 400 · weighted open USD 40" in text and "*Retail* · 1 deal created · USD 50" in text
    # nothing closed yet: said so, not a win rate of "—" over 0/0 and a cycle of "—"
    assert "weighted open USD 5 · none closed" in text and "0/0" not in text
    slack.command("report by industry someday", user="U0ADMIN")
    assert "I can't read the period “someday”" in slack.last_response()["text"]


def test_export_uploads_a_csv_of_what_the_user_may_see(slack, monkeypatch, capsys):
    pipeline = pipeline_of(slack)
    mine = add_deal(slack, name="Mine, with a comma")
    add_deal(slack, owner="U0REP2", name="Theirs")
    pipeline.deals.move(pipeline.workspaces.context("T0TEST", "U0REP1"), opp_id=mine.id, stage_id=pipeline.workspaces.pipelines("T0TEST").default.stages[1].id)
    slack.command("export", user="U0REP1")
    assert "Your export is on its way" in slack.last_response()["text"]
    shared = slack.fake.calls("files.completeUploadExternal")[-1]
    assert shared.params.get("initial_comment") == "Exported 1 opportunity with its stage history."
    file_id = slack.fake.calls("files.getUploadURLExternal")[-1].response["file_id"]
    content = slack.fake.uploaded(file_id)
    assert content[:3] == b"\xef\xbb\xbf"  # UTF-8 with a byte order mark, for Excel
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == ["Mine, with a comma"]
    history = rows[0]["history (Asia/Shanghai)"]
    assert "created -> Prospect by U0REP1" in history and "Prospect -> Solution design by U0REP1" in history
    slack.command("export owner:<@U0REP2|rep2>", user="U0REP1")
    assert "only your own opportunities and your team's" in slack.last_response()["text"]
    slack.command("export status:open", user="U0MGR")
    assert slack.fake.calls("files.completeUploadExternal")[-1].params.get("initial_comment") == "Exported 2 opportunities with their stage history."
    slack.command("export status:maybe", user="U0MGR")
    assert "status: is open, won or lost" in slack.last_response()["text"]
    for key, value in {"SLACK_BOT_TOKEN": slack.fake.bot_token, "SLACK_SIGNING_SECRET": "x", "SLACK_API_URL": slack.fake.api_url,
                       "DATABASE_URL": slack.oppbot.engine.url.render_as_string(hide_password=False), "OPPBOT_CONFIG": ""}.items():
        monkeypatch.setenv(key, value)
    from bot import cli
    assert cli.main(["export", "--csv"]) == 0
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["id"] for r in exported) == ["OPP-1", "OPP-2"]


def test_app_home_shows_the_managers_team_funnel_and_stalled_deals(slack):
    add_deal(slack, name="Sleepy")
    slack.clock.advance(days=20)  # over Prospect's 14 days
    slack.event({"type": "app_home_opened", "user": "U0MGR", "tab": "home"})
    manager_home = str(slack.fake.home_view("U0MGR"))
    assert "Your team's funnel" in manager_home and "Team's stalled deals (1)" in manager_home and "Sleepy" in manager_home
    slack.event({"type": "app_home_opened", "user": "U0REP1", "tab": "home"})
    rep_home = slack.fake.home_view("U0REP1")
    assert "Your stalled deals (1)" in str(rep_home) and "Your team's funnel" not in str(rep_home)
    assert check_view(rep_home) == []
