"""Every figure per pipeline, on every surface, in a workspace of three pipelines (tests/support.py
THREE_PIPELINES_CONFIG: New business, the East team's; Renewals, the Accounts team's; Partners, nobody's).

The scene (`seed`), counted by hand below: the East team (U0REP1, U0REP2) in New business —
  OPP-1 REP1  Prospect → Solution design → Negotiation → won      ($5,000)
  OPP-2 REP2  Prospect → Technical evaluation, open                ($10,000)
  OPP-3 REP1  Prospect → lost                                      ($3,000)
  OPP-4 REP1  created in Proposal, open                            ($1,000)
and in Partners —
  OPP-5 REP1  Registered → Qualified, open                         ($2,000)
the Accounts team (U0OTHER) in Renewals —
  OPP-6 OTHER Renewal due → Quote sent → Negotiation, open         ($4,000)
  OPP-7 OTHER Renewal due → won                                    ($6,000)

A deal has reached a stage when it was in it or a later open stage, or was won (tests/test_funnel_figures.py):
New business for East: Prospect 4 (1, 2, 3, 4), Solution design 3 (1, 2, 4), Technical evaluation 3 (1, 2, 4),
Proposal 2 (1, 4), Negotiation 1 (1); won 1, lost 1. Renewals for Accounts: 2, 2, 2; won 1. Partners for East: 1, 1, 0, 0.
New business' Negotiation (1 reached) and Renewals' Negotiation (2) are two stages, never added up.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event

from bot.digests.service import DIGEST_CHART
from bot.digests.views import digest_message, digest_modal
from bot.domain.values import OpportunityDraft
from bot.i18n import ENGLISH, translator
from bot.slack.commands import Command, parse
from bot.workspace.config import parse_config
from storage.models import Delivery
from tests.driver import TEAM
from tests.fakeslack import check_blocks, check_view
from tests.support import THREE_PIPELINES_CONFIG, add_three_pipeline_channels, context, pipeline_stage_ids, rows, text_of
from tests.test_digest_batch import same

EN = translator(ENGLISH)


@pytest.fixture
def config():
    return parse_config(THREE_PIPELINES_CONFIG, "three.toml")


@pytest.fixture
def three(slack):
    add_three_pipeline_channels(slack.fake)
    return slack


# ----- helpers ------------------------------------------------------------------------------------

def deal(slack, pipeline: str, stage: str, owner: str, amount: int | None = None, name: str = "Deal") -> int:
    """A deal made through the service as the New opportunity form makes it; returns its number."""
    services = slack.oppbot.services
    draft = OpportunityDraft(name=name, customer="Cust", owner_id=owner, stage_id=pipeline_stage_ids(slack, pipeline)[stage], currency="USD",
                             amount=Decimal(amount) if amount is not None else None)
    made, _ = services.deals.create(context(services, owner), draft, channel_id=None)
    slack.clock.advance(hours=1)
    return made.number


def say(slack, text: str, user: str) -> None:
    """A command as its user types it, then an hour passes."""
    reply = slack.command(text, user=user)
    assert reply.status == 200, reply.body
    slack.clock.advance(hours=1)


def seed(slack) -> None:
    assert deal(slack, "New business", "Prospect", "U0REP1", 5000, "Alpha") == 1
    assert deal(slack, "New business", "Prospect", "U0REP2", 10000, "Beta") == 2
    assert deal(slack, "New business", "Prospect", "U0REP1", 3000, "Gamma") == 3
    assert deal(slack, "New business", "Proposal", "U0REP1", 1000, "Delta") == 4
    assert deal(slack, "Partners", "Registered", "U0REP1", 2000, "Epsilon") == 5
    assert deal(slack, "Renewals", "Renewal due", "U0OTHER", 4000, "Zeta") == 6
    assert deal(slack, "Renewals", "Renewal due", "U0OTHER", 6000, "Eta") == 7
    say(slack, "stage OPP-1 Solution design", "U0REP1")
    say(slack, "stage OPP-1 Negotiation", "U0REP1")  # New business' Negotiation: the deal's own pipeline's
    say(slack, "won OPP-1", "U0REP1")
    say(slack, "stage OPP-2 Technical evaluation", "U0REP2")
    say(slack, "lost OPP-3 Budget cut", "U0REP1")
    say(slack, "stage OPP-5 Qualified", "U0REP1")
    say(slack, "stage OPP-6 Quote sent", "U0OTHER")
    say(slack, "stage OPP-6 Negotiation", "U0OTHER")  # Renewals' Negotiation
    say(slack, "won OPP-7", "U0OTHER")


def pipelines(slack):
    return slack.oppbot.services.workspaces.pipelines(TEAM)


def pipeline_id(slack, name: str) -> int:
    return next(p.id for p in pipelines(slack).all if p.name == name)


def team(slack, name: str):
    return next(t for t in slack.oppbot.services.teams.all(TEAM) if t.name == name)


def reached(funnel) -> list[int]:
    return [s.reached for s in funnel.steps]


def names(slack, stage_ids) -> list[str]:
    return [pipelines(slack).name_of(s) for s in stage_ids]


NEW_BUSINESS = ["Prospect", "Solution design", "Technical evaluation", "Proposal", "Negotiation"]
RENEWALS = ["Renewal due", "Quote sent", "Negotiation"]
PARTNERS = ["Registered", "Qualified", "Joint proposal", "Commit"]


def last_chart(slack) -> dict:
    return rows(slack, Delivery, kind="funnel_chart")[-1].payload


def reply_text(slack) -> str:
    response = slack.last_response()
    return response["text"] + "\n" + text_of(response.get("blocks") or [])


# ----- /opp funnel --------------------------------------------------------------------------------

def test_each_pipelines_funnel_counts_only_its_deals_and_stages(three):
    seed(three)
    # the East manager: their team's pipeline, New business, named since the workspace has several
    say(three, "funnel", "U0MGR")
    text = reply_text(three)
    assert "Funnel: East · New business pipeline" in text
    for line in ("Prospect → Solution design: 3 of 4 (75%)", "Solution design → Technical evaluation: 3 of 3 (100%)",
                 "Technical evaluation → Proposal: 2 of 3 (67%)", "Proposal → Negotiation: 1 of 2 (50%)", "Negotiation → Won: 1 of 1 (100%)",
                 "Lost: 1", "Open now: 2 deals"):
        assert line in text, line
    chart = last_chart(three)
    assert chart["pipeline"] == "New business"
    assert [tuple(step) for step in chart["chart"]["steps"]] == list(zip(NEW_BUSINESS, [4, 3, 3, 2, 1]))

    # the Accounts manager: Renewals by default, whose Negotiation is its own (2 reached, not New business' 1)
    say(three, "funnel", "U0ADMIN")
    text = reply_text(three)
    assert "Funnel: Accounts · Renewals pipeline" in text
    for line in ("Renewal due → Quote sent: 2 of 2 (100%)", "Quote sent → Negotiation: 2 of 2 (100%)", "Negotiation → Won: 1 of 2 (50%)",
                 "Lost: 0", "Open now: 1 deal"):
        assert line in text, line
    assert [tuple(step) for step in last_chart(three)["chart"]["steps"]] == list(zip(RENEWALS, [2, 2, 1 + 1]))

    # a rep naming another pipeline: Partners, their own deals in it only
    say(three, "funnel pipeline:part", "U0REP1")
    text = reply_text(three)
    assert "Your funnel · Partners pipeline" in text
    assert "Registered → Qualified: 1 of 1 (100%)" in text and "Qualified → Joint proposal: 0 of 1 (0%)" in text
    assert "Open now: 1 deal" in text
    assert [tuple(step) for step in last_chart(three)["chart"]["steps"]] == list(zip(PARTNERS, [1, 1, 0, 0]))

    # `/opp funnel @rep` is the rep's team's pipeline; pipeline: picks another, matched case-insensitively
    say(three, "funnel <@U0REP2|rep2>", "U0MGR")
    assert "Technical evaluation → Proposal: 0 of 1 (0%)" in reply_text(three) and "New business pipeline" in reply_text(three)
    say(three, "funnel pipeline:RENEWALS", "U0OTHER")
    assert "Your funnel · Renewals pipeline" in reply_text(three) and "Negotiation → Won: 1 of 2 (50%)" in reply_text(three)

    # the figures agree with storage, pipeline by pipeline
    figures_of = {p.name: p for p in pipelines(three).all}
    assert [s.stage_id for s in three.oppbot.services.reports.funnel(context(three.oppbot.services, "U0MGR"),
                                                                     filters=(("pipeline", "renewals"),)).funnel.steps] == \
        [s.id for s in figures_of["Renewals"].stages]


def test_an_unknown_or_ambiguous_pipeline_is_answered_with_the_pipelines(three):
    seed(three)
    three.command("funnel pipeline:enterprise", user="U0MGR")
    assert "Unknown pipeline “enterprise”. Pipelines: New business, Renewals, Partners." in reply_text(three)
    three.command("funnel pipeline:e", user="U0MGR")  # a part of every pipeline's name
    assert "“e” matches several pipelines (New business, Renewals, Partners); type more of the name." in reply_text(three)
    three.command("funnel pipeline:n", user="U0MGR")  # the start of one name only
    assert "New business pipeline" in reply_text(three)
    reply = three.command("report by rep pipeline:", user="U0MGR")  # the grammar's answer, in the command's own reply
    assert "pipeline: needs a pipeline's name" in reply.body


@pytest.mark.parametrize("text, command", [
    ("funnel pipeline:renewals", Command("funnel", filters=(("pipeline", "renewals"),))),
    ("funnel East pipeline:new_business", Command("funnel", team="East", filters=(("pipeline", "new business"),))),
    ("funnel <@U0REP2> pipeline:part", Command("funnel", user_id="U0REP2", filters=(("pipeline", "part"),))),
    ("漏斗 管道：续约", Command("funnel", filters=(("pipeline", "续约"),))),
    ("report by rep last quarter pipeline:partners", Command("report", action="rep", text="last quarter", filters=(("pipeline", "partners"),))),
    ("export pipeline:all status:open", Command("export", filters=(("pipeline", "all"), ("status", "open")))),
])
def test_the_commands_take_a_pipeline(text, command):
    assert parse(text) == command


# ----- /opp report and /opp export ----------------------------------------------------------------

def test_report_by_rep_in_the_partners_pipeline(three):
    seed(three)
    say(three, "report by rep pipeline:partners", "U0MGR")
    text = reply_text(three)
    assert "Partners pipeline" in text and "In the *Partners* pipeline" in text
    assert re.search(r"<@U0REP1>\* · 1 deal created · USD 2,000 · weighted open USD 600 · none closed", text), text
    assert "U0REP2" not in text  # no Partners deal of theirs
    # by default the team's pipeline: New business, where REP1 created three and REP2 one
    say(three, "report by rep", "U0MGR")
    text = reply_text(three)
    assert "New business pipeline" in text
    assert re.search(r"<@U0REP1>\* · 3 deals created", text) and re.search(r"<@U0REP2>\* · 1 deal created", text), text
    # Renewals, asked by the Accounts manager (an admin: the whole workspace's Renewals deals)
    say(three, "report by reason pipeline:renewals", "U0ADMIN")
    assert "No deal was lost in this period." in reply_text(three)
    say(three, "report by reason", "U0MGR")
    assert "Budget cut" in reply_text(three)


def export(slack, text: str, user: str) -> list[dict]:
    before = len([c for c in slack.fake.calls("files.getUploadURLExternal") if str(c.params.get("filename", "")).endswith(".csv")])
    slack.command(text, user=user)
    for _ in range(5):
        uploads = [c for c in slack.fake.calls("files.getUploadURLExternal") if str(c.params.get("filename", "")).endswith(".csv")]
        if len(uploads) > before:
            break
        slack.clock.advance(seconds=5)
        slack.deliver()
    assert len(uploads) == before + 1, reply_text(slack)
    content = slack.fake.uploaded(uploads[-1].response["file_id"])
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_export_of_every_pipeline_has_the_pipeline_column(three):
    seed(three)
    table = export(three, "export pipeline:all", "U0ADMIN")
    assert {row["id"]: (row["pipeline"], row["stage"]) for row in table} == {
        "OPP-1": ("New business", "Negotiation"), "OPP-2": ("New business", "Technical evaluation"), "OPP-3": ("New business", "Prospect"),
        "OPP-4": ("New business", "Proposal"), "OPP-5": ("Partners", "Qualified"), "OPP-6": ("Renewals", "Negotiation"),
        "OPP-7": ("Renewals", "Renewal due")}
    assert table[5]["history (Asia/Shanghai)"].count("->") == 3 and "Quote sent -> Negotiation" in table[5]["history (Asia/Shanghai)"]
    # by default the team's pipeline; stage: resolves within the chosen pipeline
    assert [row["id"] for row in export(three, "export", "U0MGR")] == ["OPP-1", "OPP-2", "OPP-3", "OPP-4"]
    assert [row["id"] for row in export(three, "export pipeline:renewals stage:negotiation", "U0ADMIN")] == ["OPP-6"]
    # New business' Negotiation: OPP-1, won there (not Renewals' OPP-6)
    assert [row["id"] for row in export(three, "export stage:negotiation", "U0MGR")] == ["OPP-1"]
    assert [row["id"] for row in export(three, "export stage:negotiation status:open", "U0MGR")] == []
    # `oppbot export csv`: every pipeline
    exported = three.oppbot.services.reports.export_all(TEAM)
    try:
        whole = list(csv.DictReader(io.StringIO(exported.file.read().decode("utf-8"), newline="")))
    finally:
        exported.close()
    assert sorted(row["pipeline"] for row in whole) == ["New business"] * 4 + ["Partners"] + ["Renewals"] * 2


# ----- the digest ---------------------------------------------------------------------------------

def test_the_east_digest_has_new_business_and_partners_and_accounts_has_renewals(three):
    seed(three)
    digests = three.oppbot.services.digests
    since = three.clock.now() - timedelta(days=1)
    east = digests.build(TEAM, team(three, "East"), since)
    assert [s.pipeline_id for s in east.sections] == [pipeline_id(three, "New business"), pipeline_id(three, "Partners")]
    business, partners = east.sections
    assert names(three, [s.stage_id for s in business.funnel.steps]) == NEW_BUSINESS and reached(business.funnel) == [4, 3, 3, 2, 1]
    assert (business.funnel.won, business.funnel.lost) == (1, 1)
    assert [(p.count, p.amount.amount, p.weighted_amount.amount) for p in business.pipeline] == [
        (0, 0, 0), (0, 0, 0), (1, 10000, 5000), (1, 1000, 650), (0, 0, 0)]
    assert (business.win_rate.won_count, business.win_rate.lost_count) == (1, 1)
    assert (business.changes.won.total, business.changes.lost.total, business.changes.new.total) == (1, 1, 4)
    assert names(three, [s.stage_id for s in partners.funnel.steps]) == PARTNERS and reached(partners.funnel) == [1, 1, 0, 0]
    assert [p.count for p in partners.pipeline] == [0, 1, 0, 0] and partners.pipeline[1].weighted_amount.amount == 600
    assert (partners.win_rate.won_count, partners.changes.new.total, partners.changes.advanced.total) == (0, 1, 1)
    # the team-wide lines once: every open deal of the team without a follow-up, whatever its pipeline
    assert east.without_follow_up.total == 3

    accounts = digests.build(TEAM, team(three, "Accounts"), since)
    assert [s.pipeline_id for s in accounts.sections] == [pipeline_id(three, "Renewals")]
    assert names(three, [s.stage_id for s in accounts.own.funnel.steps]) == RENEWALS and reached(accounts.own.funnel) == [2, 2, 2]
    assert (accounts.own.funnel.won, accounts.own.funnel.lost) == (1, 0) and accounts.own.funnel.steps[-1].rate == 0.5
    assert [p.count for p in accounts.own.pipeline] == [0, 0, 1] and accounts.own.pipeline[2].weighted_amount.amount == 3600

    # the message: a section per pipeline under its name, the follow-ups once
    text, message = digest_message(east, pipelines(three), t=EN)
    assert check_blocks(message, "message") == []
    headers = [b["text"]["text"] for b in message if b["type"] == "header"]
    assert headers == ["East · pipeline digest", "New business pipeline", "Partners pipeline", "Every pipeline"]
    assert text.startswith("East pipeline digest: 2 open deals in New business")
    whole = text_of(message)
    assert "Negotiation → Won 100% (1 of 1)" in whole and "Qualified → Joint proposal 0% (0 of 1)" in whole
    assert whole.count("*Overdue follow-ups*") == 1 and "Partners › Qualified" in whole  # a team-wide line names the stage's pipeline
    _, renewals = digest_message(accounts, pipelines(three), t=EN)
    assert "Renewals pipeline" in text_of(renewals) and "Negotiation → Won 50% (1 of 2)" in text_of(renewals)

    # a period in which nothing of Partners changed and nothing is open there has no Partners section
    three.oppbot.services.deals.find(context(three.oppbot.services, "U0REP1"), number=5)
    say(three, "lost OPP-5 Gone", "U0REP1")
    three.clock.advance(days=3)
    later = digests.build(TEAM, team(three, "East"), three.clock.now() - timedelta(days=1))
    assert [s.pipeline_id for s in later.sections] == [pipeline_id(three, "New business")]


def test_a_batch_of_both_teams_equals_each_alone(three):
    seed(three)
    digests = three.oppbot.services.digests
    since = three.clock.now() - timedelta(days=1)
    teams = [team(three, "East"), team(three, "Accounts")]
    batch = digests.build_many(TEAM, [(t, since) for t in teams])
    for batched, sales_team in zip(batch, teams):
        alone = digests.build(TEAM, sales_team, since, batched.now)
        assert same(batched, alone) and same(batched.sections, alone.sections), sales_team.name
        assert digest_message(batched, pipelines(three), t=EN) == digest_message(alone, pipelines(three), t=EN)


def test_a_batch_costs_one_set_of_statements_per_pipeline_in_use_whatever_the_data(three):
    seed(three)
    digests = three.oppbot.services.digests
    teams = [team(three, "East"), team(three, "Accounts")]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def queries(requests) -> int:
        event.listen(three.oppbot.engine, "before_cursor_execute", count)
        try:
            digests.build_many(TEAM, requests, three.clock.now())
        finally:
            event.remove(three.oppbot.engine, "before_cursor_execute", count)
        found = len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")) and "sqlite_temp_master" not in s])
        statements.clear()
        return found

    since = three.clock.now() - timedelta(days=1)
    both, east, accounts = queries([(t, since) for t in teams]), queries([(teams[0], since)]), queries([(teams[1], since)])
    # East: New business and Partners; Accounts: Renewals; together the three pipelines, each once
    per_pipeline = east - accounts  # accounts = fixed + 1 pipeline's, east = fixed + 2 pipelines'
    assert per_pipeline > 0 and both == east + per_pipeline, (both, east, accounts)  # fixed + 3 pipelines'
    assert accounts - per_pipeline <= 5  # the pipelines in use, the team-wide lines (and the stage lists)
    for n in range(6):  # more deals in the same pipelines: not one statement more
        deal(three, ("New business", "Renewals", "Partners")[n % 3], ("Prospect", "Renewal due", "Registered")[n % 3],
             ("U0REP1", "U0OTHER", "U0REP2")[n % 3])
    assert queries([(t, since) for t in teams]) == both


def test_the_digest_is_delivered_with_its_teams_pipeline_chart_and_the_full_report_per_pipeline(three):
    seed(three)
    assert three.oppbot.services.digests.plan_now("East") == 1
    for _ in range(3):
        three.deliver()
        three.clock.advance(seconds=5)
    charts = rows(three, Delivery, kind=DIGEST_CHART)
    assert charts and {c.payload["title"] for c in charts} == {"East · New business: funnel"}
    assert [tuple(s) for s in charts[0].payload["steps"]] == list(zip(NEW_BUSINESS, [4, 3, 3, 2, 1]))
    posts = [c for c in three.fake.calls("chat.postMessage") if "pipeline digest" in str(c.params.get("text", ""))]
    assert posts and "Partners pipeline" in str(posts[0].params["blocks"])
    # the Full report modal: the same sections with longer lists
    [data] = three.oppbot.services.digests.full_report(context(three.oppbot.services, "U0MGR").actor, team(three, "East").id)
    modal = digest_modal(data, pipelines(three), t=EN)
    assert check_view(modal) == [] and "Partners pipeline" in text_of(modal["blocks"])
    # `oppbot digest --preview`
    preview = three.oppbot.services.digests.preview(TEAM, team(three, "East"))
    assert "New business pipeline" in preview and "Partners pipeline" in preview


def test_a_digest_of_many_sections_stays_within_50_blocks_cutting_the_same_parts_of_each(three):
    seed(three)
    data = three.oppbot.services.digests.build(TEAM, team(three, "East"), three.clock.now() - timedelta(days=1))
    # seven sections (the Partners one repeated): too many blocks for one message
    many = dataclasses.replace(data, sections=(data.own, *data.others * 6))
    _, message = digest_message(many, pipelines(three), t=EN)
    assert check_blocks(message, "message") == [] and len(message) <= 50
    whole = text_of(message)
    cut = [line for line in whole.splitlines() if line.startswith("…left out to fit")]
    assert cut and len(set(cut)) == 1  # every section loses the same parts, and says so
    assert message[-1]["type"] == "actions"  # the Full report button stays
    _, full = digest_message(many, pipelines(three), full=True, t=EN)
    assert check_blocks(full, "modal") == [] and len(full) <= 100


# ----- the App Home -------------------------------------------------------------------------------

def home(slack, user: str) -> list[dict]:
    slack.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1700000000.000001"})
    view = slack.fake.home_view(user)
    assert check_view(view) == []
    return view["blocks"]


def test_the_app_home_groups_a_reps_deals_by_pipeline_and_a_managers_funnel_per_pipeline(three):
    seed(three)
    blocks = home(three, "U0REP1")
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == ["Your pipeline", "New business pipeline", "Partners pipeline"]
    text = text_of(blocks)
    assert re.search(r"\*Open in New business:\* 1 deal · USD 1,000 · weighted USD 650", text), text
    assert re.search(r"\*Open in Partners:\* 1 deal · USD 2,000 · weighted USD 600", text), text
    assert "*Open:*" not in text  # no total across pipelines
    # the manager: the team's funnel in its pipeline; the other pipeline its reps' deals are in named, with a pointer
    text = text_of(home(three, "U0MGR"))
    assert "*Your team's funnel in New business*" in text and "*Your team's funnel in Partners*" not in text
    assert "Prospect 4 → 75% · Solution design 3 → 100% · Technical evaluation 3 → 67% · Proposal 2 → 50% · Negotiation 1 → 100% · Won 1 · Lost 1" in text
    assert "Your team also has deals in Partners: `/opp funnel team pipeline:partners` shows a pipeline's funnel." in text
    assert "Registered" not in text and "Renewals" not in text
    page = three.oppbot.services.home.page(context(three.oppbot.services, "U0MGR"))
    assert [f.pipeline_id for f in page.teams] == [pipeline_id(three, "New business")]
    assert page.other_pipelines == (pipeline_id(three, "Partners"),)
    assert page.team is not None and page.team[0] == page.teams[0].funnel
    # the Accounts manager: Renewals
    text = text_of(home(three, "U0ADMIN"))
    assert "*Your team's funnel in Renewals*" in text and "Renewal due 2 → 100% · Quote sent 2 → 100% · Negotiation 2 → 50%" in text


def test_a_busy_app_home_of_three_pipelines_stays_within_100_blocks(three):
    for n in range(45):
        pipeline, stage = (("New business", "Proposal"), ("Renewals", "Quote sent"), ("Partners", "Qualified"))[n % 3]
        deal(three, pipeline, stage, "U0REP1", 100, name=f"Deal {n}")
    blocks = home(three, "U0REP1")
    assert len(blocks) <= 100
    text = text_of(blocks)
    for pipeline, stage in (("New business", "Proposal"), ("Renewals", "Quote sent"), ("Partners", "Qualified")):
        assert f"*Open in {pipeline}:* 15 deals" in text
        assert f"*{stage}* · 15 open" in text
    assert "…and" in text and "more in" in text  # the deals that did not fit, counted per stage


# ----- assignment -----------------------------------------------------------------------------------

def test_assignment_prefers_the_rep_with_wins_in_the_deals_pipeline(three):
    # REP1 won two New business deals; REP2 won one Renewals deal and lost a New business one
    for owner, pipeline, stage in (("U0REP1", "New business", "Prospect"), ("U0REP1", "New business", "Prospect"),
                                   ("U0REP2", "Renewals", "Renewal due"), ("U0REP2", "New business", "Prospect")):
        deal(three, pipeline, stage, owner)
    say(three, "won OPP-1", "U0REP1")
    say(three, "won OPP-2", "U0REP1")
    say(three, "won OPP-3", "U0REP2")
    say(three, "lost OPP-4 Price", "U0REP2")
    # a Renewals deal and a New business deal of the manager's, to be given to a rep
    renewal = deal(three, "Renewals", "Quote sent", "U0MGR", name="Renewal")
    business = deal(three, "New business", "Proposal", "U0MGR", name="Business")

    def ranked(number: int) -> tuple[list[str], str]:
        three.command(f"suggest OPP-{number}", user="U0MGR")
        text = reply_text(three)
        return re.findall(r"\d\. <@(U0REP\d)>", text), text

    order, text = ranked(renewal)
    assert order == ["U0REP2", "U0REP1"], text
    assert "won their only Renewals deal" in text
    order, text = ranked(business)
    assert order == ["U0REP1", "U0REP2"], text
    assert "won 2 of 2 New business deals" in text and "lost their only New business deal" in text
