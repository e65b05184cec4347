"""Lost reasons stay with the close they explain: each change to Lost keeps its reason in the stage
history, so a deal lost, reopened and lost again keeps both, and the win/loss figures (the digest's
"Why deals were lost", its list of lost deals) read them from there — each close once, with its own
reason — rather than from the deal's row, which only says why it is lost now. Revision 0008 adds
the column and fills it with what is still known."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import inspect, text

from bot.digests.views import digest_message
from bot.i18n import ENGLISH, translator
from storage.analytics import LostReason, Scope
from storage.db import UnitOfWork
from storage.models import StageChange
from tests.conftest import START, TEAM
from tests.support import migrating, opp, rows, text_of

EN = translator(ENGLISH)


def lost_reasons_in_history(slack, number: int = 1) -> list[tuple[str, str | None]]:
    return [(c.to_status, c.lost_reason) for c in rows(slack, StageChange, opportunity_id=opp(slack, number).id)]


def team(slack):
    return slack.oppbot.services.teams.all(TEAM)[0]


# ----- lost, reopened, lost again -----------------------------------------------------------------

def test_a_deal_lost_reopened_and_lost_again_keeps_both_reasons_and_each_close_counts_once(slack, clock):
    assert slack.create("Acme rollout").status == 200
    since = clock.now()
    clock.advance(hours=1)
    assert slack.command("lost OPP-1 Price too high").status == 200
    clock.advance(days=1)
    slack.command("stage OPP-1 Prospect", user="U0MGR")  # reopened (by the manager): the deal's row forgets its reason
    assert (opp(slack).status, opp(slack).lost_reason) == ("open", None)
    clock.advance(days=1)
    slack.command("lost OPP-1 Budget cut")
    clock.advance(minutes=1)

    assert lost_reasons_in_history(slack) == [("open", None), ("lost", "Price too high"), ("open", None), ("lost", "Budget cut")]
    assert (opp(slack).status, opp(slack).lost_reason) == ("lost", "Budget cut")  # what the card shows: why it is lost now

    with UnitOfWork(slack.oppbot.engine) as uow:
        reasons = uow.figures.lost_reasons(Scope(TEAM), START, clock.now())
    assert reasons == (LostReason("Budget cut", 1), LostReason("Price too high", 1))

    data = slack.oppbot.services.digests.build(TEAM, team(slack), since)
    assert data.own.lost_reasons == (LostReason("Budget cut", 1), LostReason("Price too high", 1))
    # the list of lost deals has the deal once, with the reason of its latest loss
    assert [(d.number, d.lost_reason) for d in data.own.changes.lost.deals] == [(1, "Budget cut")]
    _, blocks = digest_message(data, slack.oppbot.services.workspaces.pipelines(TEAM).default, t=EN)
    assert "*Why deals were lost, last 90 days:* Budget cut ×1 · Price too high ×1" in text_of(blocks)

    # /opp report by reason reads the same history: both losses, each with its reason
    slack.create("Beta")
    slack.command("lost OPP-2 Price too high")
    slack.command("report by reason last 90 days", user="U0ADMIN")
    text = text_of(slack.last_response()["blocks"])
    assert "Why deals were lost, last 90 days (the workspace)" in text and "3 losses; a deal lost, reopened and lost again counts once per loss." in text
    assert text.index("*Price too high* · 2 losses (67%)") < text.index("*Budget cut* · 1 loss (33%)")


def test_a_loss_reopened_since_still_counts_with_its_reason(slack, clock):
    assert slack.create("Acme rollout").status == 200
    assert slack.create("Beta deal").status == 200
    since = clock.now()
    clock.advance(hours=1)
    slack.command("lost OPP-1 No budget")
    slack.command("lost OPP-2 No budget")
    clock.advance(hours=1)
    slack.command("stage OPP-1 Prospect", user="U0MGR")  # reopened: its loss happened all the same
    clock.advance(minutes=1)

    data = slack.oppbot.services.digests.build(TEAM, team(slack), since)
    assert data.own.lost_reasons == (LostReason("No budget", 2),)
    assert sorted((d.number, d.lost_reason) for d in data.own.changes.lost.deals) == [(1, "No budget"), (2, "No budget")]
    # the win rate counts final outcomes only: OPP-2 lost, OPP-1 open again
    assert (data.own.win_rate.won_count, data.own.win_rate.lost_count) == (0, 1)


def test_a_new_reason_for_a_deal_still_lost_corrects_that_close(slack, clock):
    assert slack.create("Acme rollout").status == 200
    clock.advance(hours=1)
    slack.command("lost OPP-1 Price")
    clock.advance(hours=1)
    slack.command("lost OPP-1 Went with a competitor", user="U0MGR")  # already lost: its reason is updated, no new close

    assert lost_reasons_in_history(slack) == [("open", None), ("lost", "Went with a competitor")]
    assert opp(slack).lost_reason == "Went with a competitor"
    with UnitOfWork(slack.oppbot.engine) as uow:
        assert uow.figures.lost_reasons(Scope(TEAM), START, clock.now() + timedelta(minutes=1)) == (LostReason("Went with a competitor", 1),)


def test_opp_lost_stores_the_reason_and_who_and_when_in_the_history(slack, clock):
    assert slack.create("Acme rollout").status == 200
    clock.advance(days=2)
    reply = slack.command("lost OPP-1 Chose an in-house tool", user="U0REP1")
    assert reply.status == 200
    [created, lost] = rows(slack, StageChange, opportunity_id=opp(slack).id)
    assert created.lost_reason is None
    assert (lost.to_status, lost.lost_reason, lost.changed_by, lost.changed_at) == (
        "lost", "Chose an in-house tool", "U0REP1", START + timedelta(days=2))


def test_won_and_moves_keep_no_reason(slack, clock):
    assert slack.create("Acme rollout").status == 200
    clock.advance(hours=1)
    slack.command("lost OPP-1 Timing")
    clock.advance(hours=1)
    slack.command("won OPP-1", user="U0MGR")
    assert lost_reasons_in_history(slack) == [("open", None), ("lost", "Timing"), ("won", None)]
    assert opp(slack).lost_reason is None


def test_loss_reasons_are_of_the_scope_and_the_window(slack, clock):
    assert slack.create("Ours").status == 200
    assert slack.create("Outsider", user="U0OTHER").status == 200  # not on the East team
    clock.advance(hours=1)
    slack.command("lost OPP-1 Price")
    slack.command("lost OPP-2 Price", user="U0OTHER")
    after = clock.now() + timedelta(minutes=1)
    with UnitOfWork(slack.oppbot.engine) as uow:
        figures = uow.figures
        assert figures.lost_reasons(Scope(TEAM, owner_ids=("U0REP1", "U0REP2")), START, after) == (LostReason("Price", 1),)
        assert figures.lost_reasons(Scope(TEAM), START, after) == (LostReason("Price", 2),)
        assert figures.lost_reasons(Scope(TEAM), after, after + timedelta(days=1)) == ()
        assert figures.lost_reasons(Scope("T0ELSE"), START, after) == ()


# ----- the migration ------------------------------------------------------------------------------


def at(day: int) -> str:
    return f"2026-01-{day:02d} 10:00:00"


# (opportunity id, status now, lost_reason now, its history: (change id, from_status, to_status, day))
OLD_DEALS = [
    # lost "Price", reopened, lost again "Budget": only the latest loss's reason is still known
    (1, "lost", "Budget", [(1, None, "open", 1), (2, "open", "lost", 2), (3, "lost", "open", 3), (4, "open", "lost", 4)]),
    # lost, then reopened: its reason is gone
    (2, "open", None, [(5, None, "open", 1), (6, "open", "lost", 2), (7, "lost", "open", 3)]),
    # won
    (3, "won", None, [(8, None, "open", 1), (9, "open", "won", 5)]),
    # lost once
    (4, "lost", "Champion left", [(10, None, "open", 1), (11, "open", "lost", 6)]),
    # lost, then won: no reason now
    (5, "won", None, [(12, None, "open", 1), (13, "open", "lost", 2), (14, "lost", "won", 3)]),
]


def test_the_migration_copies_each_lost_deals_reason_onto_its_latest_loss(empty_database):
    with migrating(*empty_database) as (connection, config):
        command.upgrade(config, "0007")
        for team_id in ("T0OLD", "T0NEXT"):
            connection.execute(text(
                "INSERT INTO workspace (team_id, currency, timezone, admins, industries, regions, company_sizes, last_opp_number, "
                "assignment, created_at) VALUES (:team, 'USD', 'UTC', '[]', '[]', '[]', '[]', 0, '{}', :at)"), {"team": team_id, "at": at(1)})
        connection.execute(text("INSERT INTO stage (id, team_id, position, name, probability, max_days, active) "
                                "VALUES (1, 'T0OLD', 0, 'Prospect', 10, 30, :yes), (2, 'T0NEXT', 0, 'Prospect', 10, 30, :yes)"), {"yes": True})
        for opp_id, status, reason, history in OLD_DEALS:
            connection.execute(text(
                "INSERT INTO opportunity (id, team_id, number, name, customer, currency, stage_id, status, lost_reason, owner_id, "
                "created_by, created_at, updated_at, stage_entered_at, needs_owner) VALUES (:id, 'T0OLD', :id, 'Deal', 'Acme', 'USD', "
                "1, :status, :reason, 'U0REP', 'U0REP', :at, :at, :at, :no)"),
                {"id": opp_id, "status": status, "reason": reason, "at": at(1), "no": False})
            for change_id, from_status, to_status, day in history:
                connection.execute(text(
                    "INSERT INTO stage_change (id, team_id, opportunity_id, from_stage_id, from_status, to_stage_id, to_status, "
                    "changed_by, owner_id, changed_at) VALUES (:id, 'T0OLD', :opp, :from_stage, :from_status, 1, :to_status, "
                    "'U0REP', 'U0REP', :at)"),
                    {"id": change_id, "opp": opp_id, "from_stage": 1 if from_status else None, "from_status": from_status,
                     "to_status": to_status, "at": at(day)})
        # another workspace's lost deal: its own reason, on its own change
        connection.execute(text(
            "INSERT INTO opportunity (id, team_id, number, name, customer, currency, stage_id, status, lost_reason, owner_id, "
            "created_by, created_at, updated_at, stage_entered_at, needs_owner) VALUES (6, 'T0NEXT', 1, 'Deal', 'Acme', 'USD', "
            "2, 'lost', 'Other team', 'U0X', 'U0X', :at, :at, :at, :no)"), {"at": at(1), "no": False})
        connection.execute(text(
            "INSERT INTO stage_change (id, team_id, opportunity_id, from_stage_id, from_status, to_stage_id, to_status, "
            "changed_by, owner_id, changed_at) VALUES (15, 'T0NEXT', 6, 2, 'open', 2, 'lost', 'U0X', 'U0X', :at)"), {"at": at(7)})

        command.upgrade(config, "0008")
        got = connection.execute(text("SELECT id, lost_reason FROM stage_change ORDER BY id")).all()
        assert got == [(1, None), (2, None), (3, None), (4, "Budget"),        # "Price" was overwritten before 0008: not recoverable
                       (5, None), (6, None), (7, None),                        # reopened: its reason was cleared
                       (8, None), (9, None),
                       (10, None), (11, "Champion left"),
                       (12, None), (13, None), (14, None),
                       (15, "Other team")]
        # the deals' rows are left as they were
        assert connection.execute(text("SELECT id, lost_reason FROM opportunity ORDER BY id")).all() == [
            (1, "Budget"), (2, None), (3, None), (4, "Champion left"), (5, None), (6, "Other team")]

        command.downgrade(config, "0007")
        assert "lost_reason" not in {c["name"] for c in inspect(connection).get_columns("stage_change")}
        command.upgrade(config, "head")
        assert "lost_reason" in {c["name"] for c in inspect(connection).get_columns("stage_change")}
