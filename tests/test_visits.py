"""The derived visit columns of `stage_change` (left_at, advanced, first_visit, first_visit_of_owner, furthest_visit):
kept by every stage change, re-derived when the funnel's order changes, filled in by the migration
that adds them, and what conversion and rep funnels count with them."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import inspect, text, update
from sqlmodel import Session, select

from bot.domain.clock import FakeClock
from bot.services import Services
from storage import analytics, visits
from storage.analytics import Figures
from storage.db import alembic_config, make_engine, upgrade
from storage.models import Opportunity, StageChange
from tests.conftest import TEST_CONFIG
from tests.support import create, make_services, migrating

FOUR_STAGES = '[[stages]]\nname = "Lead"\n[[stages]]\nname = "Qualify"\n[[stages]]\nname = "Demo"\n[[stages]]\nname = "Proposal"\n'


def make_pipeline(engine, fake_slack, clock: FakeClock, config_text: str = TEST_CONFIG) -> Services:
    return make_services(engine, clock, config_text)[0]


def derived(engine, opportunity_id: int | None = None) -> list[tuple]:
    with Session(engine) as session:
        query = select(StageChange.id, StageChange.left_at, StageChange.advanced, StageChange.first_visit,
                       StageChange.first_visit_of_owner, StageChange.furthest_visit).order_by(StageChange.id)
        if opportunity_id is not None:
            query = query.where(StageChange.opportunity_id == opportunity_id)
        return [tuple(row) for row in session.execute(query)]


def new_deal(pipeline: Services, owner: str = "U0REP1") -> int:
    return create(pipeline, owner).id


@pytest.fixture
def pipeline(engine, fake_slack, clock) -> Services:
    return make_pipeline(engine, fake_slack, clock)


def test_each_change_ends_the_previous_visit_and_marks_what_advanced(engine, pipeline, clock):
    admin = pipeline.workspaces.context("T0TEST", "U0ADMIN")
    lead, qualify = pipeline.workspaces.pipelines("T0TEST").default.stages[:2]
    opp = new_deal(pipeline)
    t1 = clock.advance(days=2)
    pipeline.deals.move(admin, opp_id=opp, stage_id=qualify.id)
    t2 = clock.advance(days=3)
    pipeline.deals.move(admin, opp_id=opp, stage_id=lead.id)
    assert derived(engine, opp)[0][1:3] == (t1, True)      # Lead, then Qualify: advanced
    assert derived(engine, opp)[1][1:3] == (t2, False)     # Qualify, then back to Lead
    assert derived(engine, opp)[2][1:3] == (None, False)   # still in Lead
    t3 = clock.advance(days=1)
    pipeline.deals.lose(admin, "Budget", opp_id=opp)
    t4 = clock.advance(days=1)
    pipeline.deals.move(admin, opp_id=opp, stage_id=lead.id)            # reopened
    pipeline.deals.win(admin, opp_id=opp)
    assert [row[1:] for row in derived(engine, opp)] == [
        # left_at, advanced, first visit of the deal to the stage, first with this owner, furthest visit
        (t1, True, True, True, False),       # Lead: the deal later reached Qualify (and was won)
        (t2, True, True, True, True),        # Qualify: won in the end; the furthest stage it was in
        (t3, True, False, False, False),     # Lead again: won in the end
        (t4, False, False, False, False),    # Lost: not a visit
        (t4, True, False, False, False),     # reopened in Lead, then won
        (None, False, False, False, False),  # Won: the latest change
    ]


def test_a_deal_won_reopened_and_moved_further_keeps_its_furthest_visit_before_the_win(engine, fake_slack, clock):
    """Reopened after a win and moved beyond where it was won: its first visit of the furthest stage
    has no win after it, so the furthest visit is the one before the win, which has."""
    pipeline = make_pipeline(engine, fake_slack, clock, TEST_CONFIG + FOUR_STAGES)
    admin = pipeline.workspaces.context("T0TEST", "U0ADMIN")
    lead, qualify, demo, proposal = pipeline.workspaces.pipelines("T0TEST").default.stages
    opp = new_deal(pipeline)
    for stage in (qualify, None, proposal):
        clock.advance(days=1)
        if stage is None:
            pipeline.deals.win(admin, opp_id=opp)
        else:
            pipeline.deals.move(admin, opp_id=opp, stage_id=stage.id)
    assert [(row[2], row[5]) for row in derived(engine, opp)] == [
        (True, False),    # Lead
        (True, True),     # Qualify: won after it
        (False, False),   # Won
        (False, False),   # reopened in Proposal: no win after it
    ]
    with Session(engine) as session:
        conversion = Figures(session).stage_conversion(analytics.Scope(team_id="T0TEST"))
    assert [s.reached for s in conversion.steps] == [1, 1, 1, 1] and conversion.won == 0  # ever won: it passed every stage
    assert [s.stage_id for s in conversion.steps] == [lead.id, qualify.id, demo.id, proposal.id]


def test_what_each_change_keeps_equals_deriving_everything_afresh(engine, fake_slack, clock):
    pipeline = make_pipeline(engine, fake_slack, clock, TEST_CONFIG + FOUR_STAGES)
    admin = pipeline.workspaces.context("T0TEST", "U0ADMIN")
    stages = pipeline.workspaces.pipelines("T0TEST").default.stages
    rng = random.Random(7)
    deals = [new_deal(pipeline, rng.choice(["U0REP1", "U0REP2"])) for _ in range(12)]
    for _ in range(120):
        clock.advance(hours=rng.choice([0, 1, 5, 30]))  # some changes share a timestamp: order by id breaks ties
        opp = rng.choice(deals)
        roll = rng.random()
        if roll < 0.1:  # handed to the other rep: the deal's next visits are theirs
            with engine.begin() as connection:
                connection.execute(update(Opportunity.__table__).where(Opportunity.id == opp).values(
                    owner_id=rng.choice(["U0REP1", "U0REP2"])))
        elif roll < 0.2:
            pipeline.deals.win(admin, opp_id=opp)
        elif roll < 0.3:
            pipeline.deals.lose(admin, "Price", opp_id=opp)
        else:
            pipeline.deals.move(admin, opp_id=opp, stage_id=rng.choice(stages).id)
    kept = derived(engine)
    for column in (2, 3, 4, 5):  # advanced, first_visit, first_visit_of_owner, furthest_visit: both values occur
        assert {row[column] for row in kept} == {True, False}
    assert any(row[3] != row[4] for row in kept)  # some deal came back to a stage under another owner
    with engine.begin() as connection:
        connection.execute(update(StageChange.__table__).values(left_at=None, advanced=False, first_visit=False, first_visit_of_owner=False,
                                                                furthest_visit=False))
        assert visits.derive(connection, "T0TEST") > 0
        assert visits.derive(connection, "T0TEST") == 0  # nothing left to change
    assert derived(engine) == kept

    # Rep funnels count deals through the first-visit flags: the same as counting distinct deals over
    # every visit, done here from the raw history; and the funnel counts deals by the furthest stage
    # they ever reached (a win beyond every stage), also recounted here from the raw history.
    rank = {stage.id: i for i, stage in enumerate(stages)}
    with Session(engine) as session:
        history = session.execute(select(StageChange.opportunity_id, StageChange.to_stage_id, StageChange.to_status, StageChange.owner_id)
                                  .order_by(StageChange.opportunity_id, StageChange.changed_at, StageChange.id)).all()
        conversion = Figures(session).stage_conversion(analytics.Scope(team_id="T0TEST"))
        funnels = Figures(session).rep_funnels(analytics.Scope(team_id="T0TEST", owner_ids=("U0REP1", "U0REP2")), clock.now())
    entered: dict[tuple, set] = {}
    advanced: dict[tuple, set] = {}
    furthest: dict[int, int] = {}
    now_status: dict[int, str] = {}
    for opp, stage_id, status, _ in history:
        furthest[opp] = max(furthest.get(opp, -1), rank[stage_id] if status == "open" else len(stages) if status == "won" else -1)
        now_status[opp] = status
    reached = [sum(1 for f in furthest.values() if f >= k) for k in range(len(stages))]
    won = sum(1 for st in now_status.values() if st == "won")
    assert conversion.won == won and conversion.lost == sum(1 for st in now_status.values() if st == "lost")
    assert [(s.reached, s.converted) for s in conversion.steps] == [
        (reached[k], reached[k + 1] if k + 1 < len(stages) else won) for k in range(len(stages))]
    assert reached == sorted(reached, reverse=True) and won > 0
    for i, (opp, stage_id, status, owner) in enumerate(history):
        if status != "open":
            continue
        later = [rank[s] if st == "open" else len(stages) for o, s, st, _ in history[i + 1:] if o == opp and st != "lost"]
        for key in ((None, stage_id), (owner, stage_id)):
            entered.setdefault(key, set()).add(opp)
            if later and max(later) > rank[stage_id]:
                advanced.setdefault(key, set()).add(opp)
    assert [(s.entered, s.advanced) for s in funnels.team.stages] == [
        (len(entered.get((None, stage.id), ())), len(advanced.get((None, stage.id), ()))) for stage in stages]
    for rep in funnels.reps:
        assert [(s.entered, s.advanced) for s in rep.stages] == [
            (len(entered.get((rep.owner_id, stage.id), ())), len(advanced.get((rep.owner_id, stage.id), ()))) for stage in stages]
    assert sum(s.entered for rep in funnels.reps for s in rep.stages) > sum(s.entered for s in funnels.team.stages)


def test_reordering_or_retiring_stages_re_derives_advanced(engine, fake_slack, clock):
    config = TEST_CONFIG + '[[stages]]\nname = "Lead"\n[[stages]]\nname = "Demo"\n[[stages]]\nname = "Proposal"\n'
    first = make_pipeline(engine, fake_slack, clock, config)
    admin = first.workspaces.context("T0TEST", "U0ADMIN")
    lead, demo, proposal = first.workspaces.pipelines("T0TEST").default.stages
    opp = new_deal(first)
    clock.advance(days=1)
    first.deals.move(admin, opp_id=opp, stage_id=demo.id)
    clock.advance(days=1)
    first.deals.move(admin, opp_id=opp, stage_id=proposal.id)
    assert [row[2] for row in derived(engine, opp)] == [True, True, False]

    def conversion(pipeline: Services) -> dict[str, tuple[int, int]]:
        model = pipeline.workspaces.pipelines("T0TEST").default
        with Session(engine) as session:
            return {model.name_of(s.stage_id): (s.reached, s.converted)
                    for s in Figures(session).stage_conversion(analytics.Scope(team_id="T0TEST")).steps}

    assert conversion(first) == {"Lead": (1, 1), "Demo": (1, 1), "Proposal": (1, 0)}

    # Proposal now comes first: Lead and Demo came after it, so the deal went back, not forward
    reordered = make_pipeline(engine, fake_slack, clock, TEST_CONFIG + '[[stages]]\nname = "Proposal"\n[[stages]]\nname = "Lead"\n'
                              '[[stages]]\nname = "Demo"\n')
    reordered.workspaces.ensure_workspace("T0TEST")  # the changed file is applied when the workspace is next seen
    assert [row[2] for row in derived(engine, opp)] == [True, False, False]
    # ...while the funnel counts the deal as having reached every stage up to Demo, now the last one
    assert conversion(reordered) == {"Proposal": (1, 1), "Lead": (1, 1), "Demo": (1, 0)}

    # Demo retired: it ranks nowhere, so reaching it is no advance and leaving it none either
    retired = make_pipeline(engine, fake_slack, clock, TEST_CONFIG + '[[stages]]\nname = "Lead"\n[[stages]]\nname = "Proposal"\n')
    retired.workspaces.ensure_workspace("T0TEST")
    assert [row[2] for row in derived(engine, opp)] == [True, False, False]
    assert conversion(retired) == {"Lead": (1, 1), "Proposal": (1, 0)}


def test_a_deal_is_named_with_its_workspace(engine):
    with Session(engine) as session, pytest.raises(ValueError, match="workspace"):
        visits.derive(session, opportunity_id=1)


def test_the_migration_derives_the_columns_of_existing_history(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.execute(text("INSERT INTO workspace (team_id, currency, timezone, admins, industries, regions, company_sizes, last_opp_number, "
                                "created_at) VALUES ('T0OLD', 'USD', 'UTC', '[]', '[]', '[]', '[]', 1, '2026-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO stage (id, team_id, name, position, probability, max_days, active) VALUES "
                                "(1, 'T0OLD', 'Lead', 0, 10, 30, 1), (2, 'T0OLD', 'Demo', 1, 50, 30, 1)"))
        connection.execute(text("INSERT INTO opportunity (id, team_id, number, name, customer, currency, stage_id, status, owner_id, "
                                "created_by, created_at, updated_at, stage_entered_at) VALUES (1, 'T0OLD', 1, 'Deal', 'C', 'USD', 2, "
                                "'open', 'U1', 'U1', '2026-01-01 00:00:00', '2026-01-03 00:00:00', '2026-01-03 00:00:00')"))
        connection.execute(text("INSERT INTO stage_change (team_id, opportunity_id, from_stage_id, from_status, to_stage_id, to_status, "
                                "changed_by, owner_id, changed_at) VALUES "
                                "('T0OLD', 1, NULL, NULL, 1, 'open', 'U1', 'U1', '2026-01-01 00:00:00'), "
                                "('T0OLD', 1, 1, 'open', 2, 'open', 'U1', 'U1', '2026-01-03 00:00:00')"))
    upgrade(engine)
    rows = derived(engine)
    assert [row[1:] for row in rows] == [(datetime(2026, 1, 3, tzinfo=timezone.utc), True, True, True, False),
                                         (None, False, True, True, True)]
    engine.dispose()


def test_analytics_read_the_stored_visits(engine, pipeline, clock):
    """Dwell and conversion come from the stored columns: a visit's days end at left_at."""
    admin = pipeline.workspaces.context("T0TEST", "U0ADMIN")
    lead, qualify = pipeline.workspaces.pipelines("T0TEST").default.stages[:2]
    opp = new_deal(pipeline)
    clock.advance(days=4)
    pipeline.deals.move(admin, opp_id=opp, stage_id=qualify.id)
    now = clock.advance(days=1)
    with Session(engine) as session:
        dwell = {d.stage_id: d for d in Figures(session).stage_dwell(analytics.Scope(team_id="T0TEST"), now)}
    assert dwell[lead.id].visits == 1 and dwell[lead.id].finished_avg_days == pytest.approx(4)
    assert dwell[qualify.id].finished_visits == 0 and dwell[qualify.id].avg_days == pytest.approx(1)


def test_a_deal_won_only_from_a_stage_retired_since_has_passed_every_stage(engine, fake_slack, clock):
    first = make_pipeline(engine, fake_slack, clock, TEST_CONFIG + '[[stages]]\nname = "Lead"\n[[stages]]\nname = "Demo"\n')
    admin = first.workspaces.context("T0TEST", "U0ADMIN")
    opp = new_deal(first)  # in Lead
    clock.advance(days=1)
    first.deals.win(admin, opp_id=opp)
    retired = make_pipeline(engine, fake_slack, clock, TEST_CONFIG + '[[stages]]\nname = "Demo"\n[[stages]]\nname = "Proposal"\n')
    retired.workspaces.ensure_workspace("T0TEST")  # Lead retired: the deal was never in an active stage
    assert [row[5] for row in derived(engine, opp)] == [True, False]  # its first change marks it
    with Session(engine) as session:
        conversion = Figures(session).stage_conversion(analytics.Scope(team_id="T0TEST"))
    assert [(s.reached, s.converted) for s in conversion.steps] == [(1, 1), (1, 1)] and conversion.won == 1


# (opportunity id, its history: (change id, stage id, to_status, day), the changes that are its furthest visit)
FURTHEST_HISTORIES = [
    (1, [(1, 1, "open", 1), (2, 2, "open", 2), (3, 1, "open", 3)], {2}),                     # back from Demo: Demo
    (2, [(4, 1, "open", 1), (5, 1, "won", 2), (6, 2, "open", 3)], {4}),                      # won in Lead, reopened in Demo
    (3, [(7, 3, "open", 1), (8, 3, "won", 2)], {7}),                                         # won from a retired stage only
    (4, [(9, 3, "open", 1), (10, 3, "lost", 2)], set()),                                     # never in an active stage
    (5, [(11, 1, "open", 1), (12, 2, "open", 2), (13, 2, "lost", 3), (14, 2, "open", 4)], {12}),  # reopened in Demo: the first visit
]



def test_the_migration_marks_the_furthest_visit_of_existing_history(empty_database):
    day = "2026-01-{:02d} 10:00:00".format
    with migrating(*empty_database) as (connection, config):
        command.upgrade(config, "0008")
        connection.execute(text(
            "INSERT INTO workspace (team_id, currency, timezone, admins, industries, regions, company_sizes, last_opp_number, "
            "assignment, created_at) VALUES ('T0OLD', 'USD', 'UTC', '[]', '[]', '[]', '[]', 0, '{}', :at)"), {"at": day(1)})
        connection.execute(text("INSERT INTO stage (id, team_id, position, name, probability, max_days, active) VALUES "
                                "(1, 'T0OLD', 0, 'Lead', 10, 30, :yes), (2, 'T0OLD', 1, 'Demo', 50, 30, :yes), "
                                "(3, 'T0OLD', 1002, 'Old', 20, 30, :no)"), {"yes": True, "no": False})
        for opp_id, history, _ in FURTHEST_HISTORIES:
            last_stage, last_status = history[-1][1:3]
            connection.execute(text(
                "INSERT INTO opportunity (id, team_id, number, name, customer, currency, stage_id, status, owner_id, "
                "created_by, created_at, updated_at, stage_entered_at, needs_owner) VALUES (:id, 'T0OLD', :id, 'Deal', 'Acme', 'USD', "
                ":stage, :status, 'U0REP', 'U0REP', :at, :at, :at, :no)"),
                {"id": opp_id, "stage": last_stage, "status": last_status, "at": day(1), "no": False})
            previous = None
            for change_id, stage_id, to_status, on in history:
                connection.execute(text(
                    "INSERT INTO stage_change (id, team_id, opportunity_id, from_stage_id, from_status, to_stage_id, to_status, "
                    "changed_by, owner_id, changed_at) VALUES (:id, 'T0OLD', :opp, :from_stage, :from_status, :stage, :to_status, "
                    "'U0REP', 'U0REP', :at)"),
                    {"id": change_id, "opp": opp_id, "from_stage": previous[0] if previous else None,
                     "from_status": previous[1] if previous else None, "stage": stage_id, "to_status": to_status, "at": day(on)})
                previous = (stage_id, to_status)

        command.upgrade(config, "0009")
        marked = {row.id for row in connection.execute(text("SELECT id FROM stage_change WHERE furthest_visit"))}
        assert marked == set().union(*(furthest for _, _, furthest in FURTHEST_HISTORIES))
        command.downgrade(config, "0008")
        assert "furthest_visit" not in {c["name"] for c in inspect(connection).get_columns("stage_change")}
        command.upgrade(config, "head")
        assert "furthest_visit" in {c["name"] for c in inspect(connection).get_columns("stage_change")}
