"""A day in a workspace of three pipelines, end to end through the Slack-shaped surface: 新业务 (New business, 5
stages, the East team's), Renewals (3, the Accounts team's) and Partners (4, nobody's default). A deal is created
in each, moved through its own pipeline's stages with each stage's alert in its own channel, one is moved to
another pipeline by a manager, deals are won with each pipeline's announcement, and the funnels and digests are
per pipeline, never mixed."""

from __future__ import annotations

import pytest

from bot.workspace.config import parse_config
from storage.models import Opportunity
from tests.driver import TEAM
from tests.support import THREE_PIPELINE_CHANNELS, THREE_PIPELINES_CONFIG, add_three_pipeline_channels, pipeline_stage_ids, rows, text_of

NEW = "新业务"


@pytest.fixture
def config():
    return parse_config(THREE_PIPELINES_CONFIG.replace('name = "New business"', f'name = "{NEW}"'), "three.toml")


def pipeline_ids(slack) -> dict[str, int]:
    return {p.name: p.id for p in slack.oppbot.services.workspaces.pipelines(TEAM).all}


def create(slack, name: str, pipeline: str, *, user: str) -> Opportunity:
    """/opp new, the pipeline picked when it isn't the one preselected (the form redrawn), the first stage, submit."""
    slack.command(f"new {name}", user=user)
    view = slack.open_modal()
    wanted = str(pipeline_ids(slack)[pipeline])
    if next(b for b in view["blocks"] if b.get("block_id") == "pipeline")["element"]["initial_option"]["value"] != wanted:
        slack.choose_in_modal("pipeline", wanted, {"name": name}, user=user)
        view = slack.open_modal()
    [stage] = [b for b in view["blocks"] if b.get("block_id", "").startswith("stage")]
    first = stage["element"]["initial_option"]["value"]
    assert int(first) == next(iter(pipeline_stage_ids(slack, pipeline).values()))  # the chosen pipeline's first stage
    reply = slack.submit(view, {"name": name, "customer": f"{name} Ltd", "pipeline": wanted, stage["block_id"]: first}, user=user)
    assert reply.status == 200 and not reply.body, reply.body
    return rows(slack, Opportunity, name=name)[-1]


def posted_in(slack, channel: str) -> list[str]:
    return [text_of(c.params.get("blocks") or []) or c.params.get("text", "") for c in slack.fake.calls("chat.postMessage")
            if c.params.get("channel") == channel]


def deliver(slack) -> None:
    """Everything due goes out: an alert about a new deal waits for its card, and cards in one channel are paced."""
    for _ in range(4):
        slack.deliver()
        slack.clock.advance(seconds=2)


def said(slack) -> str:
    return slack.last_response()["text"]


def test_a_day_with_three_pipelines(slack):
    add_three_pipeline_channels(slack.fake)
    new_stages, renewal_stages, partner_stages = (pipeline_stage_ids(slack, p) for p in (NEW, "Renewals", "Partners"))

    # a deal in each pipeline: the form preselects the submitter's team's pipeline (East: 新业务, Accounts: Renewals)
    expansion = create(slack, "Huawei expansion", NEW, user="U0REP1")
    reseller = create(slack, "Reseller deal", "Partners", user="U0REP1")
    renewal = create(slack, "Annual renewal", "Renewals", user="U0OTHER")
    assert (expansion.stage_id, reseller.stage_id, renewal.stage_id) == (
        new_stages["Prospect"], partner_stages["Registered"], renewal_stages["Renewal due"])
    deliver(slack)

    # stages resolve within each deal's own pipeline; each stage's alert goes to its own channel, naming the pipeline
    slack.command("stage OPP-1 design", user="U0REP1")
    assert said(slack) == "OPP-1 moved from *Prospect* to *Solution design*."
    slack.command("stage OPP-3 negotiation", user="U0OTHER")  # Renewals' Negotiation, not 新业务's
    assert said(slack) == "OPP-3 moved from *Renewal due* to *Negotiation*."
    assert rows(slack, Opportunity, number=3)[0].stage_id == renewal_stages["Negotiation"]
    slack.command("stage OPP-2 qualified", user="U0REP1")
    slack.command("stage OPP-3 prospect", user="U0OTHER")  # a stage of another pipeline: refused, nothing changed
    assert "“prospect” is a stage of the 新业务 pipeline" in said(slack) and "`/opp move OPP-3 <pipeline> [stage]`" in said(slack)
    assert rows(slack, Opportunity, number=3)[0].stage_id == renewal_stages["Negotiation"]
    deliver(slack)
    [solutions] = posted_in(slack, "C0SOLUTIONS")
    assert "Huawei expansion" in solutions and f"into *Solution design* of the {NEW} pipeline" in solutions
    [partners] = posted_in(slack, "C0PARTNERS")
    assert "Reseller deal" in partners and "of the Partners pipeline" in partners
    assert posted_in(slack, "C0ENGINEERING") == []

    # the owner may not move a deal to another pipeline; their manager may: Qualified (2nd) lands on Solution design (2nd)
    slack.command(f"move OPP-2 {NEW}", user="U0REP1")
    assert "manager" in said(slack) and rows(slack, Opportunity, number=2)[0].stage_id == partner_stages["Qualified"]
    slack.command(f"move OPP-2 {NEW}", user="U0MGR")
    assert said(slack) == f"OPP-2 moved to the {NEW} pipeline, in Solution design."
    assert rows(slack, Opportunity, number=2)[0].stage_id == new_stages["Solution design"]
    deliver(slack)
    assert len(posted_in(slack, "C0SOLUTIONS")) == 2  # the new stage's alert
    slack.command("show OPP-2", user="U0MGR")
    assert f"moved from the Partners pipeline (Qualified) to {NEW} (Solution design)" in text_of(slack.last_response()["blocks"])

    # wins, each announced in its own pipeline's channel
    slack.command("won OPP-3", user="U0OTHER")
    slack.command("won OPP-1", user="U0REP1")
    deliver(slack)
    assert any("Annual renewal" in text for text in posted_in(slack, "C0RENEWALS"))
    assert any("Huawei expansion" in text for text in posted_in(slack, "C0WINS"))
    assert not any("Annual renewal" in text for text in posted_in(slack, "C0WINS"))

    # the funnel is the asker's team's pipeline unless another is named; never a mix
    slack.command("funnel", user="U0MGR")
    east_funnel = text_of(slack.last_response()["blocks"])
    assert NEW in east_funnel and "Renewal due" not in east_funnel and "Registered" not in east_funnel
    slack.command("funnel pipeline:renewals", user="U0ADMIN")
    renewals_funnel = text_of(slack.last_response()["blocks"])
    assert "Renewals" in renewals_funnel and "Renewal due" in renewals_funnel and "Prospect" not in renewals_funnel
    slack.command("funnel pipeline:nowhere", user="U0MGR")
    assert "nowhere" in said(slack) and "Partners" in said(slack)

    # the digests: East's in 新业务 (OPP-2 left Partners for it, so no Partners section), Accounts' in Renewals
    digests = slack.oppbot.services.digests
    assert digests.plan_now("East") == 1 and digests.plan_now("Accounts") == 1
    deliver(slack)
    posts = [c.params for c in slack.fake.calls("chat.postMessage") if "pipeline digest" in str(c.params.get("text", ""))]
    east = [text_of(p["blocks"]) for p in posts if p["text"].startswith("East")]
    accounts = [text_of(p["blocks"]) for p in posts if p["text"].startswith("Accounts")]
    assert east and accounts
    assert f"{NEW} pipeline" in east[0] and "Partners pipeline" not in east[0] and "Renewal due" not in east[0]
    assert "Renewals pipeline" in accounts[0] and "Prospect" not in accounts[0]


def test_an_alert_whose_channel_another_delivery_resolved_meanwhile_goes_at_once(slack):
    """Two alerts due together, each to a #name without an id yet: the first to run resolves both names, so the second
    finds nothing left to resolve. It goes at once, not after the 15 minutes an unknown channel waits (a race that
    two pipelines' alerts after a start-up made visible)."""
    from storage.models import Delivery

    senders = slack.oppbot.services.alert_senders
    now = slack.clock.now()
    waiting = Delivery(team_id=TEAM, kind="stage_alert", subject_id=1, dedupe_key="alert:1", due_at=now, scheduled_for=now, created_at=now)
    for channel_id, name in THREE_PIPELINE_CHANNELS:
        if name != "partners":
            slack.fake.add_channel(channel_id, name)
    # the workspace has no #partners yet: its alert waits
    assert senders._resolve_for(waiting, "#partners", now).at > now
    slack.fake.add_channel("C0PARTNERS", "partners")
    assert senders.resolve_channels(TEAM) == []  # another delivery resolved it meanwhile: nothing is left to resolve
    retry = senders._resolve_for(waiting, "#partners", now)
    assert (retry.at, retry.reason) == (now, "channel resolved")
