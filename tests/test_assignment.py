"""Assignment: ranking argued by hand, reasons, the flows through Slack, automatic mode, permissions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from bot.assignment.scoring import Candidate, rank
from bot.domain.values import OpportunityDraft
from bot.slack.ids import ASSIGN_BUTTON, NEEDS_OWNER_BUTTON
from bot.workspace.config import AssignmentConfig, parse_config
from storage import analytics, visits
from storage.analytics import Figures
from storage.db import UnitOfWork
from storage.models import Opportunity, OwnerChange, StageChange
from tests.conftest import START, TEST_CONFIG
from tests.driver import running_app

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
WEIGHTS = AssignmentConfig()


def record(owner, closed, won, similar_closed=None, similar_won=None, cycle_days=30.0):
    similar_closed = closed if similar_closed is None else similar_closed
    similar_won = won if similar_won is None else similar_won
    return analytics.RepRecord(owner, closed, won, similar_closed, similar_won, float(similar_closed), float(similar_won), similar_won * cycle_days)


def load(owner, open_count=5, weighted=Decimal("50000"), overdue=0):
    return analytics.RepLoad(owner, open_count, weighted, overdue)


def order(candidates, **kwargs):
    return [s.user_id for s in rank(candidates, kwargs.pop("weights", WEIGHTS), NOW, similar_label="", currency="USD")]


# ----- ranking (pure) -------------------------------------------------------------------------

def test_a_specialist_beats_a_generalist_on_similar_deals():
    specialist = Candidate("U0SPEC", record("U0SPEC", 10, 8), load("U0SPEC"))
    # the generalist closed many deals, few like this one: similarity weights them down
    generalist = Candidate("U0GEN", analytics.RepRecord("U0GEN", 40, 20, 2, 0, 8.0, 3.0, 90.0), load("U0GEN"))
    assert order([generalist, specialist]) == ["U0SPEC", "U0GEN"]


def test_one_win_out_of_one_does_not_beat_40_out_of_60():
    lucky = Candidate("U0LUCKY", record("U0LUCKY", 1, 1), load("U0LUCKY"))
    proven = Candidate("U0PROVEN", record("U0PROVEN", 60, 40), load("U0PROVEN"))
    ranked = rank([lucky, proven], WEIGHTS, NOW, similar_label="", currency="USD")
    assert [s.user_id for s in ranked] == ["U0PROVEN", "U0LUCKY"]
    # smoothed toward the team's 41/61 the means are (1 + 5·0.672)/6 ≈ 0.727 and (40 + 5·0.672)/65 ≈ 0.667,
    # but the score uses the 80% lower bound of each: ≈ 0.466 on 6 deals of evidence vs ≈ 0.589 on 65
    by_user = {s.user_id: s for s in ranked}
    assert by_user["U0LUCKY"].win_rate == pytest.approx((1 + 5 * 41 / 61) / 6)
    assert by_user["U0PROVEN"].win_rate == pytest.approx((40 + 5 * 41 / 61) / 65)
    from bot.assignment.scoring import confident_rate
    assert confident_rate(1 + 5 * 41 / 61, 6) == pytest.approx(0.466, abs=0.002)
    assert confident_rate(40 + 5 * 41 / 61, 65) == pytest.approx(0.589, abs=0.002)


def test_the_free_rep_beats_the_overloaded_one_with_the_same_record():
    busy = Candidate("U0BUSY", record("U0BUSY", 10, 5), load("U0BUSY", open_count=20, weighted=Decimal("400000"), overdue=6))
    free = Candidate("U0FREE", record("U0FREE", 10, 5), load("U0FREE", open_count=2, weighted=Decimal("20000")))
    ranked = rank([busy, free], WEIGHTS, NOW, similar_label="", currency="USD")
    assert [s.user_id for s in ranked] == ["U0FREE", "U0BUSY"]
    assert "2 open deals, 9 fewer than the team's average" in ranked[0].reasons
    assert "20 open deals, 9 more than the team's average" in ranked[1].reasons and "6 overdue follow-ups" in ranked[1].reasons


def test_an_away_rep_is_left_out_until_their_date():
    away = Candidate("U0AWAY", record("U0AWAY", 30, 30), load("U0AWAY"), away_until=NOW + timedelta(days=3))
    back = Candidate("U0BACK", record("U0BACK", 30, 30), load("U0BACK"), away_until=NOW - timedelta(days=1))
    here = Candidate("U0HERE", record("U0HERE", 10, 2), load("U0HERE"))
    assert order([away, back, here]) == ["U0BACK", "U0HERE"]
    assert order([away]) == []


def test_equal_scores_go_round_robin_to_whoever_was_assigned_longest_ago():
    a = Candidate("U0A", None, load("U0A", 0, Decimal(0)), last_assigned=NOW - timedelta(hours=1))
    b = Candidate("U0B", None, load("U0B", 0, Decimal(0)), last_assigned=NOW - timedelta(days=2))
    c = Candidate("U0C", None, load("U0C", 0, Decimal(0)))
    assert order([a, b, c]) == ["U0C", "U0B", "U0A"]


def reasons_of(*candidates, label=""):
    return {s.user_id: s.reasons for s in rank(list(candidates), WEIGHTS, NOW, similar_label=label, currency="USD")}


def test_reasons_read_as_plain_words():
    [only] = rank([Candidate("U0X", record("U0X", 20, 12, cycle_days=32), load("U0X", 8))], WEIGHTS, NOW,
                  similar_label="Healthcare · North", currency="USD")
    assert only.reasons == ("won 12 of 20 deals like this one (Healthcare · North); 8 open deals, the team's average; "
                            "wins in 32 days on average, the team in 32 days")
    [new] = rank([Candidate("U0NEW", None, load("U0NEW", 0, Decimal(0)))], WEIGHTS, NOW, similar_label="", currency="USD")
    assert new.reasons == "no closed deals yet, so counted at the team's 30% win rate; no open deals, the team's average"


def test_reasons_for_a_rep_with_no_closed_deals_one_with_one_win_and_a_veteran():
    reasons = reasons_of(
        Candidate("U0NEW", None, load("U0NEW", 1)),
        Candidate("U0ONE", record("U0ONE", 1, 1, cycle_days=9), load("U0ONE", 4, overdue=1)),
        Candidate("U0VET", record("U0VET", 4, 3, cycle_days=12), load("U0VET", 7, overdue=2)),
        label="Manufacturing · APAC")
    # the team: 4 of 5 closed deals won (80%); 4 open on average; wins in (9 + 3 × 12) / 4 = 11.25 days
    assert reasons == {
        "U0NEW": "no closed deals yet, so counted at the team's 80% win rate; 1 open deal, 3 fewer than the team's average",
        "U0ONE": ("won the only deal like this one (Manufacturing · APAC); 4 open deals, the team's average; 1 overdue follow-up; "
                  "wins in 9 days on average, the team in 11 days"),
        "U0VET": ("won 3 of 4 deals like this one (Manufacturing · APAC); 7 open deals, 3 more than the team's average; "
                  "2 overdue follow-ups; wins in 12 days on average, the team in 11 days"),
    }


def test_reasons_when_no_closed_deal_is_like_this_one_or_the_deal_has_nothing_to_compare():
    # closed deals, none matching: what they did win is said, and that none was like this one
    reasons = reasons_of(Candidate("U0A", record("U0A", 1, 1, similar_closed=0, similar_won=0), load("U0A", 2)),
                         Candidate("U0B", record("U0B", 5, 0, similar_closed=0, similar_won=0), load("U0B", 3)),
                         label="Retail")
    assert reasons == {"U0A": "won their only closed deal, none like this one (Retail); 2 open deals, about the team's average",
                       "U0B": "won 0 of 5 closed deals, none like this one (Retail); 3 open deals, about the team's average"}
    # a deal with no industry, region, size or amount: every closed deal counts, no "like this one"
    reasons = reasons_of(Candidate("U0C", record("U0C", 1, 0), load("U0C", 1)), Candidate("U0D", record("U0D", 6, 2, cycle_days=3), load("U0D", 1)))
    assert reasons == {"U0C": "lost their only closed deal; 1 open deal, the team's average",
                       "U0D": "won 2 of 6 closed deals; 1 open deal, the team's average; wins in 3 days on average, the team in 3 days"}


def test_a_zero_day_average_reads_under_a_day_never_zero_days():
    # won the day they were created: a real average of 0 days, said as people would
    reasons = reasons_of(Candidate("U0FAST", record("U0FAST", 2, 2, cycle_days=0.0), load("U0FAST", 0, Decimal(0))),
                         Candidate("U0SLOW", record("U0SLOW", 2, 1, similar_closed=1, similar_won=1, cycle_days=3.0), load("U0SLOW", 0, Decimal(0))),
                         label="Healthcare")
    assert reasons == {
        "U0FAST": "won 2 of 2 deals like this one (Healthcare); no open deals, the team's average; wins in under a day on average, the team in 1 day",
        "U0SLOW": "won the only deal like this one (Healthcare); no open deals, the team's average; wins in 3 days on average, the team in 1 day",
    }


def test_weights_change_the_order():
    good_but_busy = Candidate("U0GOOD", record("U0GOOD", 20, 15), load("U0GOOD", 15, Decimal("300000")))
    weak_but_free = Candidate("U0FREE", record("U0FREE", 20, 6), load("U0FREE", 1, Decimal("10000")))
    assert order([good_but_busy, weak_but_free], weights=AssignmentConfig(win_rate=1, cycle=0, load=0)) == ["U0GOOD", "U0FREE"]
    assert order([good_but_busy, weak_but_free], weights=AssignmentConfig(win_rate=0, cycle=0, load=1)) == ["U0FREE", "U0GOOD"]


# ----- through Slack --------------------------------------------------------------------------

def seed_history(engine, stage_id):
    """REP1 is the healthcare specialist (6 of 7 won), REP2 the generalist (3 of 10, none in healthcare)."""
    rows = []
    for i in range(7):
        rows.append(dict(owner_id="U0REP1", industry="Healthcare", status="won" if i < 6 else "lost"))
    for i in range(10):
        rows.append(dict(owner_id="U0REP2", industry="Retail", status="won" if i < 3 else "lost"))
    created, closed = START - timedelta(days=60), START - timedelta(days=30)
    with UnitOfWork(engine, write=True) as uow:
        uow.session.execute(Opportunity.__table__.insert(), [dict(
            id=5000 + i, team_id="T0TEST", number=1000 + i, name=f"Old {i}", customer="C", amount=Decimal(5000), currency="USD",
            stage_id=stage_id, created_by=r["owner_id"], created_at=created, updated_at=START, stage_entered_at=created,
            closed_at=closed, needs_owner=False, **r) for i, r in enumerate(rows)])
        # the history such a deal has: created, then closed (the closes assignment counts are read from it)
        uow.session.execute(StageChange.__table__.insert(), [dict(
            team_id="T0TEST", opportunity_id=5000 + i, from_stage_id=from_stage, from_status=from_status, to_stage_id=stage_id,
            to_status=to_status, changed_by=r["owner_id"], owner_id=r["owner_id"], changed_at=at)
            for i, r in enumerate(rows)
            for from_stage, from_status, to_status, at in ((None, None, "open", created), (stage_id, "open", r["status"], closed))])
        visits.derive(uow.session, "T0TEST")
        uow.commit()


def new_unowned_deal(slack, user="U0REP1", **values):
    slack.command("new Hospital upgrade", user=user)
    view = slack.last_view()
    return slack.submit(view, {"name": "Hospital upgrade", "customer": "St. Mary", "industry": "Healthcare", "owner": None, **values}, user=user)


def suggestions_to(fake, target):
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == target and c.params.get("text", "").endswith("needs an owner")]


def test_a_deal_without_an_owner_goes_to_the_manager_with_ranked_suggestions_and_is_assigned_in_two_clicks(slack):
    seed_history(slack.oppbot.engine, slack.oppbot.services.workspaces.pipelines("T0TEST").default.first.id)
    assert new_unowned_deal(slack).body == ""
    [message] = suggestions_to(slack.fake, "DU0MGR")
    sections = [b for b in message.params["blocks"] if b.get("accessory", {}).get("action_id") == ASSIGN_BUTTON]
    assert [b["accessory"]["value"].split(":")[1] for b in sections] == ["U0REP1", "U0REP2"]
    assert "won 6 of 7 deals like this one (Healthcare)" in sections[0]["text"]["text"]
    opp = slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1)
    assert opp.needs_owner and opp.owner_id == "U0REP1"
    # a rep can't assign
    slack.click(ASSIGN_BUTTON, value=sections[1]["accessory"]["value"], user="U0REP2", channel="DU0MGR")
    assert "Only the team's manager or an admin assigns deals" in slack.last_response()["text"]
    # the manager's second click assigns
    slack.click(ASSIGN_BUTTON, value=sections[1]["accessory"]["value"], user="U0MGR", channel="DU0MGR", message_ts=message.response["ts"])
    after = slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1)
    assert (after.owner_id, after.needs_owner) == ("U0REP2", False)
    with Session(slack.oppbot.engine) as session:
        [change] = session.scalars(select(OwnerChange)).all()
    assert (change.from_owner, change.to_owner, change.changed_by, change.how) == ("U0REP1", "U0REP2", "U0MGR", "assigned")
    told = [c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "DU0REP2"]
    assert told and told[-1].params["text"].startswith("Assigned to you: OPP-1") and any(b["type"] == "actions" for b in told[-1].params["blocks"])
    # the suggestions message is redrawn in place through the click's response_url
    redrawn = [r for r in slack.responses() if r.get("replace_original")]
    assert redrawn and "assigned to <@U0REP2> by <@U0MGR>" in redrawn[-1]["text"]


def test_suggest_and_assign_commands_are_for_managers(slack):
    slack.create("Deal")
    slack.command("suggest OPP-1", user="U0REP1")
    assert "Only the team's manager or an admin" in slack.last_response()["text"]
    slack.command("suggest OPP-1", user="U0MGR")
    assert "<@U0REP2>" in str(slack.last_response()["blocks"]) and ASSIGN_BUTTON in str(slack.last_response()["blocks"])
    slack.command("assign OPP-1 <@U0REP2|rep2>", user="U0REP1")
    assert "Only the team's manager or an admin" in slack.last_response()["text"]
    slack.command("assign OPP-1 <@U0OTHER|other>", user="U0MGR")
    assert slack.last_response()["text"] == "OPP-1 now belongs to <@U0OTHER>; I told them."
    slack.command("assign OPP-1 <@U0BOTUSER|bot>", user="U0ADMIN")
    assert "A bot can't own an opportunity" in slack.last_response()["text"]


def test_a_rep_hands_a_deal_back_with_needs_an_owner(slack):
    slack.create("Deal")
    opp = slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0REP1"), number=1)
    slack.click(NEEDS_OWNER_BUTTON, value=str(opp.id), user="U0REP2")
    assert "Only OPP-1's owner, their manager or an admin" in slack.last_response()["text"] or "belongs to" in slack.last_response()["text"]
    slack.click(NEEDS_OWNER_BUTTON, value=str(opp.id), user="U0REP1")
    assert "I sent it to <@U0MGR> with suggestions" in slack.last_response()["text"]
    assert len(suggestions_to(slack.fake, "DU0MGR")) == 1


def test_away_reps_are_not_suggested(slack):
    slack.create("Deal")
    slack.command("away until 2026-12-24", user="U0REP2")
    assert "You are away until" in slack.last_response()["text"]
    slack.command("suggest OPP-1", user="U0MGR")
    assert "U0REP2" not in str(slack.last_response()["blocks"])
    slack.command("away <@U0REP2> off", user="U0REP1")
    assert "You can mark only yourself" in slack.last_response()["text"]
    slack.command("away <@U0REP2> off", user="U0MGR")
    slack.command("suggest OPP-1", user="U0MGR")
    assert "U0REP2" in str(slack.last_response()["blocks"])


AUTO_CONFIG = TEST_CONFIG.replace('members = ["U0REP1", "U0REP2"]', 'members = ["U0REP1", "U0REP2"]\nauto_assign = true')


def test_automatic_mode_assigns_round_robin_among_equals_and_tells_the_manager(engine, fake_slack, clock):
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(AUTO_CONFIG, "auto.toml")) as slack:
        owners = []
        for _ in range(4):
            new_unowned_deal(slack, user="U0MGR")
            clock.advance(minutes=1)
        with Session(engine) as session:
            owners = list(session.scalars(select(OwnerChange.to_owner).order_by(OwnerChange.id)))
        assert len(owners) == 4 and set(owners) == {"U0REP1", "U0REP2"}
        assert owners[0] != owners[1], "a tie goes to whoever was assigned longest ago"
        notes = [c for c in fake_slack.calls("chat.postMessage") if c.params["channel"] == "DU0MGR" and "assigned automatically" in c.params["text"]]
        assert len(notes) == 4


def test_a_team_with_one_rep_and_a_team_with_none(engine, fake_slack, clock):
    config = parse_config(TEST_CONFIG.replace('members = ["U0REP1", "U0REP2"]', 'members = ["U0REP1"]')
                          + '\n[[teams]]\nname = "Empty"\nmanager = "U0ADMIN"\n', "t.toml")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        slack.create("Deal", user="U0REP1")
        slack.command("suggest OPP-1", user="U0MGR")
        assert str(slack.last_response()["blocks"]).count(ASSIGN_BUTTON) == 1
        new_unowned_deal(slack, user="U0ADMIN")  # the admin manages Empty, which has no reps
        [message] = suggestions_to(fake_slack, "DU0ADMIN")
        assert "Empty has no available rep to suggest" in str(message.params["blocks"])


def test_the_rep_comparison_credits_each_stage_change_to_the_owner_at_the_time(slack):
    pipeline = slack.oppbot.services
    stages = pipeline.workspaces.pipelines("T0TEST").default.stages
    manager = pipeline.workspaces.context("T0TEST", "U0MGR")
    opp = pipeline.deals.create(pipeline.workspaces.context("T0TEST", "U0REP1"), OpportunityDraft(name="D", customer="C", owner_id="U0REP1", stage_id=stages[0].id, currency="USD"), channel_id=None)[0]
    pipeline.deals.move(manager, opp_id=opp.id, stage_id=stages[1].id)
    slack.oppbot.services.assignments.assign(manager, "U0REP2", opp_id=opp.id)
    pipeline.deals.move(manager, opp_id=opp.id, stage_id=stages[2].id)
    with Session(slack.oppbot.engine) as session:
        owners = [c.owner_id for c in session.scalars(select(StageChange).order_by(StageChange.id))]
        funnels = Figures(session).rep_funnels(analytics.Scope("T0TEST", owner_ids=("U0REP1", "U0REP2")), slack.clock.now())
    assert owners == ["U0REP1", "U0REP1", "U0REP2"]
    entered = {rep.owner_id: {s.stage_id: s.entered for s in rep.stages} for rep in funnels.reps}
    assert entered["U0REP1"][stages[0].id] == 1 and entered["U0REP1"][stages[1].id] == 1 and entered["U0REP1"][stages[2].id] == 0
    assert entered["U0REP2"][stages[2].id] == 1


def test_an_unreadable_away_date_is_refused_and_changes_nothing(slack):
    slack.command("away until someday", user="U0REP2")
    assert "can't read" in slack.last_response()["text"]
    slack.command("away until 2020-01-01", user="U0REP2")
    assert "is in the past" in slack.last_response()["text"]
    reply = slack.command("away tomorrow", user="U0REP2")
    assert "Usage: /opp away [@rep] until 2026-12-24" in reply.json["text"]
