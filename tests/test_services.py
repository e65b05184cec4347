"""Each feature's use cases against a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is
set) and a fake gateway: no HTTP. What a change sends on its own is checked as the outbox rows its
transaction wrote, then delivered by the dispatcher through the fake gateway."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from bot.alerts.service import STAGE_ALERT
from bot.deals.cards import CARD_NOTE, CARD_POST, CARD_REFRESH
from bot.domain.values import Forbidden, Invalid, NotFound
from bot.followups.service import REMINDER, STALLED
from bot.outbox.messages import MESSAGE
from bot.workspace.forms import StageSettings, WorkspaceSettings
from storage.models import Collaborator, Delivery, FollowUp, Opportunity, OwnerChange, PostedCard, StageChange
from tests.support import context, create, draft, make_services, rows

ALERTING = """
[workspace]
currency = "USD"
timezone = "Asia/Shanghai"
admins = ["U0ADMIN"]

[[stages]]
name = "Prospect"
probability = 10
max_days = 14

[[stages]]
name = "Solution design"
probability = 30
max_days = 21
alert_channel = "C0SOLUTIONS"

[[stages]]
name = "Negotiation"
probability = 70
max_days = 14

[outcomes]
won_channel = "C0WINS"

[[teams]]
name = "East"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]
"""


@pytest.fixture
def app(engine, clock):
    services, gateway = make_services(engine, clock, ALERTING)
    return services, gateway


def pending(engine, kind: str | None = None) -> list[Delivery]:
    return [d for d in rows(engine, Delivery, status="pending") if kind is None or d.kind == kind]


def deliver(services) -> None:
    services.dispatcher.run_once(plan=False)


# ----- deals and cards ---------------------------------------------------------------------------

def test_a_new_deal_writes_its_card_and_stalled_check_with_it_and_the_card_goes_where_asked(app, engine):
    services, gateway = app
    opp = create(services, channel="C0SALES", amount=Decimal("1200"))
    assert {d.kind for d in pending(engine)} == {CARD_POST, STALLED}
    deliver(services)
    [post] = [p for p in gateway.sent("post") if p["channel"] == "C0SALES"]
    assert post["text"].startswith(f"{opp.ref} Deal (Cust)")
    [card] = rows(engine, PostedCard)
    assert card.channel_id == "C0SALES"
    [note] = gateway.sent("ephemeral")
    assert note["user"] == "U0REP1" and note["text"] == f"{opp.ref} is created in <#C0SALES>."
    assert [d.kind for d in rows(engine, Delivery, status="sent")] == [CARD_POST, CARD_NOTE]


def test_a_card_the_bot_cannot_post_in_the_channel_goes_to_the_owner_by_dm(app, engine):
    services, gateway = app
    gateway.fail("post", "not_in_channel")
    create(services, "U0MGR", owner="U0REP2", channel="C0PRIVATE")
    deliver(services)
    [card] = rows(engine, PostedCard)
    assert card.channel_id == "DU0REP2"
    notes = [p for p in gateway.sent("post") if p["channel"] == "DU0MGR"]
    assert notes and "I can't post in <#C0PRIVATE>" in notes[0]["text"] and "<@U0REP2> by DM" in notes[0]["text"]


def test_a_stage_change_records_the_alert_and_the_card_refresh_in_its_transaction(app, engine):
    services, gateway = app
    opp = create(services, channel="C0SALES")
    deliver(services)
    result = services.deals.move(context(services), opp_id=opp.id, stage_query="solution")
    assert result.changed and "to *Solution design*" in result.message
    assert sorted(d.kind for d in pending(engine)) == sorted([STAGE_ALERT, CARD_REFRESH, STALLED])
    deliver(services)
    assert [p["channel"] for p in gateway.sent("post")][-1] == "C0SOLUTIONS"
    assert "Solution design" in gateway.sent("update")[-1]["text"]


def test_refreshes_coalesce_one_pending_per_card(app, engine):
    services, gateway = app
    opp = create(services, channel="C0SALES")
    deliver(services)
    ctx = context(services)
    for stage in ("solution", "nego", "prospect"):
        services.deals.move(ctx, opp_id=opp.id, stage_query=stage)
    assert len(pending(engine, CARD_REFRESH)) == 1
    deliver(services)
    [update] = gateway.sent("update")
    assert update["text"].endswith("· Prospect")  # rendered when sent: the newest content


def test_someone_elses_deal_is_refused_and_nothing_is_written(app, engine):
    services, _ = app
    opp = create(services)
    before = len(rows(engine, Delivery))
    with pytest.raises(Forbidden):
        services.deals.move(context(services, "U0OTHER"), opp_id=opp.id, stage_query="solution")
    with pytest.raises(Forbidden):
        services.deals.win(context(services, "U0REP2"), opp_id=opp.id)
    assert len(rows(engine, StageChange)) == 1 and len(rows(engine, Delivery)) == before
    with pytest.raises(NotFound):
        services.deals.win(context(services), number=99)


def test_another_workspaces_deal_is_not_found(app, engine):
    services, _ = app
    opp = create(services)
    with pytest.raises(NotFound):
        services.deals.find(context(services, team="T0OTHERTEAM"), opp_id=opp.id)
    with pytest.raises(NotFound):
        services.deals.win(context(services, "U0ADMIN", team="T0OTHERTEAM"), opp_id=opp.id)


# ----- workspace -----------------------------------------------------------------------------------

def test_the_context_is_the_actor_the_workspace_and_its_stages(app):
    services, gateway = app
    manager = context(services, "U0MGR")
    assert manager.actor.managed_user_ids == {"U0REP1", "U0REP2"} and not manager.actor.is_admin
    assert [s.name for s in manager.pipelines.default.stages] == ["Prospect", "Solution design", "Negotiation"]
    assert manager.timezone == "Asia/Shanghai" and manager.workspace.currency == "USD"
    assert context(services, "U0ADMIN").actor.is_admin and context(services, "U0SLACKADMIN").actor.is_admin
    calls = len(gateway.sent("user_info"))
    context(services, "U0MGR")
    assert len(gateway.sent("user_info")) == calls  # the profile is cached for a day


def test_only_admins_change_the_settings(app):
    services, _ = app
    stages = context(services).pipelines.default
    settings = WorkspaceSettings(pipeline_id=stages.id, stages=tuple(StageSettings(stage_id=s.id, probability=s.probability, max_days=3, alert_channel=None, alert_usergroup=None) for s in stages.stages),
                                 won_channel=None, lost_channel=None)
    with pytest.raises(Forbidden):
        services.workspaces.update_settings(context(services), settings)
    services.workspaces.update_settings(context(services, "U0ADMIN"), settings)
    assert {s.max_days for s in services.workspaces.pipelines("T0TEST").default.stages} == {3}


# ----- follow-ups ------------------------------------------------------------------------------

def test_a_follow_up_is_checked_and_written_in_one_transaction_with_its_reminder(app, engine, clock):
    services, gateway = app
    opp = create(services, channel="C0SALES")
    deliver(services)
    added = services.follow_ups.add(context(services), clock.now() + timedelta(hours=1), "call the buyer", opp_id=opp.id)
    assert added.changed and [d.kind for d in pending(engine) if d.kind != STALLED] == [REMINDER, CARD_REFRESH]
    clock.advance(hours=1)
    deliver(services)
    assert any(p["channel"] == "DU0REP1" and "call the buyer" in p["text"] for p in gateway.sent("post"))


def test_a_follow_up_on_a_closed_deal_is_refused_and_writes_nothing(app, engine, clock):
    services, _ = app
    opp = create(services)
    services.deals.lose(context(services), "no budget", opp_id=opp.id)
    with pytest.raises(Invalid, match="is lost; reopen it"):
        services.follow_ups.add(context(services), clock.now() + timedelta(hours=1), "call", opp_id=opp.id)
    with pytest.raises(Forbidden):
        services.follow_ups.add(context(services, "U0OTHER"), clock.now() + timedelta(hours=1), "call", opp_id=opp.id)
    assert rows(engine, FollowUp) == [] and pending(engine, REMINDER) == []


def test_done_cancels_the_reminder(app, engine, clock):
    services, _ = app
    opp = create(services)
    added = services.follow_ups.add(context(services), clock.now() + timedelta(hours=1), "call", opp_id=opp.id)
    done = services.follow_ups.complete(context(services), added.follow_up.id)
    assert done.changed and pending(engine, REMINDER) == []
    assert not services.follow_ups.complete(context(services), added.follow_up.id).changed


# ----- alerts ------------------------------------------------------------------------------------

def test_take_it_records_the_taker_the_card_refresh_and_the_owners_dm_together(app, engine):
    services, gateway = app
    opp = create(services, channel="C0SALES")
    services.deals.move(context(services), opp_id=opp.id, stage_query="solution")
    deliver(services)
    [change] = [c for c in rows(engine, StageChange) if c.from_status is not None]
    taken = services.alerts.take(context(services, "U0OTHER"), change.id)
    assert taken.changed and taken.holder == "U0OTHER" and taken.card is not None
    assert {d.kind for d in pending(engine)} >= {CARD_REFRESH, MESSAGE}
    again = services.alerts.take(context(services, "U0REP2"), change.id)
    assert not again.changed and again.holder == "U0OTHER"
    with pytest.raises(Forbidden):
        services.alerts.release(context(services, "U0REP2"), change.id)
    deliver(services)
    assert any(p["channel"] == "DU0REP1" and "<@U0OTHER> took OPP-1" in p["text"] for p in gateway.sent("post"))
    assert len(rows(engine, Collaborator)) == 1


# ----- assignment and teams --------------------------------------------------------------------

def test_assigning_hands_the_deal_over_and_tells_the_new_owner(app, engine):
    services, gateway = app
    opp = create(services)
    with pytest.raises(Forbidden):
        services.assignments.assign(context(services, "U0REP2"), "U0REP2", opp_id=opp.id)
    after = services.assignments.assign(context(services, "U0MGR"), "U0REP2", opp_id=opp.id)
    assert after.owner_id == "U0REP2" and len(rows(engine, OwnerChange)) == 1
    deliver(services)
    assert any(p["channel"] == "DU0REP2" and p["text"].startswith("Assigned to you: OPP-1") for p in gateway.sent("post"))


def test_a_new_deal_without_an_owner_is_routed_to_the_manager_in_its_transaction(app, engine):
    services, gateway = app
    _, routed = services.deals.create(context(services), draft(services, owner="U0REP1", needs_owner=True), channel_id=None)
    assert routed is not None and "sent it to <@U0MGR>" in routed
    deliver(services)
    to_manager = [p for p in gateway.sent("post") if p["channel"] == "DU0MGR"]
    assert to_manager and "needs an owner" in to_manager[0]["text"]
    assert any(p["channel"] == "DU0REP1" and p["text"] == routed for p in gateway.sent("post"))


def test_team_changes_are_for_the_manager(app):
    services, _ = app
    with pytest.raises(Forbidden):
        services.teams.add(context(services, "U0REP1").actor, "U0OTHER", "East")
    team = services.teams.add(context(services, "U0MGR").actor, "U0OTHER", None)
    assert "U0OTHER" in team.member_ids
    with pytest.raises(Invalid, match="can't find that person|bot can't"):
        services.teams.add(context(services, "U0MGR").actor, "U0BOTUSER", None)


# ----- home, digests, reports --------------------------------------------------------------------

def test_the_app_home_page_has_my_deals_and_for_a_manager_the_team(app):
    services, _ = app
    create(services)
    mine = services.home.page(context(services))
    assert mine.total == 1 and mine.team is None
    team = services.home.page(context(services, "U0MGR"))
    assert team.team is not None and team.team[0].steps[0].reached == 1


def test_a_digest_now_is_planned_built_and_sent_through_the_outbox(app, engine):
    services, gateway = app
    create(services)
    assert services.digests.plan_now() == 1
    # the same second again: the period is planned already, and says so (nothing is recorded twice)
    assert services.digests.plan_now() == 0
    assert len(rows(engine, Delivery, kind="digest")) == 1
    services.dispatcher.run_once()
    posts = [p for p in gateway.sent("post") if p["channel"] == "DU0MGR"]
    assert posts and "pipeline digest" in posts[0]["text"]
    assert [u["channel"] for u in gateway.sent("upload")] == ["DU0MGR"]


def test_funnel_report_and_export_are_scoped_to_what_the_actor_may_see(app, engine, clock):
    services, gateway = app
    opp = create(services, industry="Finance")
    create(services, "U0OTHER")
    services.deals.win(context(services), opp_id=opp.id)
    clock.advance(minutes=1)
    funnel = services.reports.funnel(context(services))
    assert funnel.who == "you" and funnel.win_rate.won_count == 1
    with pytest.raises(Forbidden):
        services.reports.funnel(context(services), user_id="U0OTHER")
    report = services.reports.report(context(services, "U0MGR"), "industry", None)
    assert [(r.key, r.count) for r in report.rows] == [("Finance", 1)]
    services.reports.export(context(services), ())
    deliver(services)
    [chart, export] = sorted(gateway.sent("upload"), key=lambda upload: upload["filename"])
    assert chart["filename"] == "funnel.png" and chart["channel"] == "DU0REP1"
    assert export["channel"] == "DU0REP1" and export["comment"] == "Exported 1 opportunity with its stage history."
    assert export["content"].decode("utf-8").count("OPP-") == 1
    with pytest.raises(Forbidden):
        services.reports.export(context(services), (("owner", "U0OTHER"),))
    assert pending(engine) == [d for d in pending(engine) if d.kind == STALLED]  # the refused export recorded nothing


def test_an_export_counts_deals_not_lines(app, engine):
    services, gateway = app
    opp = create(services)
    services.deals.lose(context(services), "price\nand timing\nand a reorg", opp_id=opp.id)
    services.reports.export(context(services), ())
    deliver(services)
    [export] = gateway.sent("upload")
    assert export["comment"] == "Exported 1 opportunity with its stage history."
    assert export["content"].count(b"\n") > 2 and len(rows(engine, Opportunity)) == 1


def test_an_alert_waits_for_the_deals_new_card_to_link_to_it(app, engine, clock):
    services, gateway = app
    create(services, channel="C0SALES", stage=1)  # straight into Solution design, which alerts C0SOLUTIONS
    services.dispatcher.run_once(kinds=(STAGE_ALERT,), plan=False)
    assert [p["channel"] for p in gateway.sent("post")] == []  # the card is still queued: the alert waits
    services.dispatcher.run_once(kinds=(CARD_POST,), plan=False)
    clock.advance(seconds=1)
    deliver(services)
    alert = next(p for p in gateway.sent("post") if p["channel"] == "C0SOLUTIONS")
    [card] = rows(engine, PostedCard)
    assert gateway.permalink(card.channel_id, card.ts) in str(alert["blocks"])


def test_an_alert_goes_out_without_the_link_when_the_card_is_held_up(app, engine, clock):
    services, gateway = app
    gateway.fail("post", "internal_error", times=20)  # the card can't be posted for now (and the first alert attempt neither)
    create(services, channel="C0SALES", stage=1)
    services.dispatcher.run_once(kinds=(CARD_POST,), plan=False)
    clock.advance(seconds=31)
    gateway.failures.clear()
    services.dispatcher.run_once(kinds=(STAGE_ALERT,), plan=False)
    alert = next(p for p in gateway.sent("post") if p["channel"] == "C0SOLUTIONS")
    assert "alert_take" in str(alert["blocks"]) and "archives" not in str(alert["blocks"])


def test_a_file_slack_refuses_for_good_is_replaced_by_a_note_in_the_dm(app, engine):
    services, gateway = app
    create(services)
    gateway.fail("upload", "missing_scope")  # the app was installed without files:write
    services.reports.export(context(services), ())
    deliver(services)
    [note] = [p for p in gateway.sent("post") if p["channel"] == "DU0REP1" and "couldn't send you the export" in p["text"]]
    assert "missing_scope" in note["text"]
    assert [d.status for d in rows(engine, Delivery) if d.kind == "export"] == ["sent"]
    gateway.fail("upload", "internal_error")  # a passing failure: retried, no note
    services.reports.export(context(services), ())
    deliver(services)
    assert [d.status for d in rows(engine, Delivery) if d.kind == "export"] == ["sent", "pending"]
