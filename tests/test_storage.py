"""The storage layer on SQLite and PostgreSQL: migrations match the models, numbering under
concurrency, workspace scoping, timezone-aware times, append-only history."""

from __future__ import annotations

import threading
from datetime import timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel, select

from bot.domain.clock import FakeClock
from bot.domain.values import NotFound
from storage.db import UnitOfWork, pending_migrations
from storage.models import Opportunity, Stage, StageChange, Workspace
from tests.conftest import START
from tests.support import context, draft, make_services


@pytest.fixture
def services(engine):
    return make_services(engine, FakeClock(START))[0]


def test_migrations_match_the_models(engine):
    assert not pending_migrations(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_numbers_are_unique_and_gapless_under_concurrent_creates(services, engine):
    ctx = context(services)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                services.deals.create(ctx, draft(services), channel_id=None)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as session:
        numbers = sorted(session.scalars(select(Opportunity.number).where(Opportunity.team_id == "T0TEST")))
        changes = session.scalars(select(StageChange)).all()
    assert numbers == list(range(1, 41))
    assert len(changes) == 40


def test_each_workspace_has_its_own_numbers_and_sees_only_its_own_rows(services):
    rep_a = services.workspaces.context("T0TEST", "U0REP1")
    rep_b = services.workspaces.context("T0OTHERTEAM", "U0REP1")
    first_a = services.deals.create(rep_a, draft(services), channel_id=None)[0]
    first_b = services.deals.create(rep_b, draft(services, team="T0OTHERTEAM"), channel_id=None)[0]
    assert (first_a.number, first_b.number) == (1, 1)
    assert services.deals.find(rep_b, number=1).id == first_b.id
    with pytest.raises(NotFound):
        services.deals.find(rep_b, opp_id=first_a.id)
    assert services.workspaces.pipelines("T0OTHERTEAM").default.first.id != services.workspaces.pipelines("T0TEST").default.first.id


def test_times_come_back_timezone_aware_in_utc(services, engine):
    actor = services.workspaces.context("T0TEST", "U0REP1")
    created = services.deals.create(actor, draft(services, amount=Decimal("12.50")), channel_id=None)[0]
    with Session(engine) as session:
        row = session.get(Opportunity, created.id)
        assert row is not None
        assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
        assert row.created_at == START
        assert row.amount == Decimal("12.50")
    shanghai = START.astimezone(timezone(timedelta(hours=8)))
    with UnitOfWork(engine, write=True) as uow:
        opp = uow.session.get(Opportunity, created.id)
        opp.updated_at = shanghai
        uow.commit()
    with Session(engine) as session:
        assert session.get(Opportunity, created.id).updated_at == START


def test_history_is_appended_never_rewritten(services, engine):
    actor = services.workspaces.context("T0TEST", "U0REP1")
    opp = services.deals.create(actor, draft(services), channel_id=None)[0]
    stages = services.workspaces.pipelines("T0TEST").default.stages
    services.deals.move(actor, opp_id=opp.id, stage_id=stages[1].id)
    services.deals.move(actor, opp_id=opp.id, stage_id=stages[0].id)
    services.deals.win(actor, opp_id=opp.id)
    with Session(engine) as session:
        rows = session.scalars(select(StageChange).where(StageChange.opportunity_id == opp.id).order_by(StageChange.id)).all()
    moves = [(r.from_stage_id, r.from_status, r.to_stage_id, r.to_status) for r in rows]
    assert moves == [
        (None, None, stages[0].id, "open"),
        (stages[0].id, "open", stages[1].id, "open"),
        (stages[1].id, "open", stages[0].id, "open"),
        (stages[0].id, "open", stages[0].id, "won"),
    ]


def test_unit_of_work_rolls_back_unless_committed(engine):
    with UnitOfWork(engine, write=True) as uow:
        uow.session.add(Workspace(team_id="T0ROLLBACK", currency="USD", timezone="UTC", created_at=START))
        uow.session.flush()
    with Session(engine) as session:
        assert session.get(Workspace, "T0ROLLBACK") is None


def test_changed_configuration_is_reapplied_and_removed_stages_are_retired(engine):
    first, _ = make_services(engine, FakeClock(START), '[[stages]]\nname = "Lead"\n[[stages]]\nname = "Demo"\nprobability = 40\n')
    ctx = context(first)
    opp = first.deals.create(ctx, draft(first), channel_id=None)[0]
    lead_id = first.workspaces.pipelines("T0TEST").default.first.id

    second, _ = make_services(engine, FakeClock(START), '[[stages]]\nname = "Qualify"\n[[stages]]\nname = "Demo"\nprobability = 60\n')
    model = second.workspaces.pipelines("T0TEST").default
    assert [s.name for s in model.stages] == ["Qualify", "Demo"]
    assert model.stages[1].probability == 60
    assert [s.name for s in model.retired] == ["Lead"]
    assert second.deals.find(context(second), opp_id=opp.id).stage_id == lead_id  # history keeps its stage
    with Session(engine) as session:
        assert session.scalars(select(Stage).where(Stage.team_id == "T0TEST")).all().__len__() == 3


def test_upgrade_gives_sqlite_planner_statistics_and_refreshes_them_when_stale(engine, services):
    """SQLite never gathers statistics itself (PRAGMA optimize on a fresh connection does nothing):
    without them the planner picks bad indexes at scale. upgrade() analyzes; PostgreSQL is left to autovacuum."""
    from storage.db import refresh_statistics, upgrade

    upgrade(engine)  # nothing to migrate: a no-op apart from the statistics check
    if engine.dialect.name != "sqlite":
        assert refresh_statistics(engine) is False and refresh_statistics(engine, full=True) is False
        return
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar_one() == 1
    stage_id = services.workspaces.pipelines("T0TEST").default.first.id
    with UnitOfWork(engine, write=True) as uow:  # rows the statistics don't know of: more than a quarter of 1,000
        for n in range(1, 1301):
            uow.session.add(Opportunity(team_id="T0TEST", number=10_000 + n, name="Deal", customer="C", owner_id="U0REP1",
                                        stage_id=stage_id, status="open", currency="USD", created_by="U0REP1",
                                        created_at=START, updated_at=START, stage_entered_at=START))
        uow.commit()
    assert refresh_statistics(engine) is True  # stale: analyzed
    with engine.connect() as connection:
        stats = dict(connection.exec_driver_sql("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'opportunity'").all())
    assert stats and all(int(stat.split()[0]) == 1300 for stat in stats.values())
    assert refresh_statistics(engine) is False  # fresh: only PRAGMA optimize
    assert refresh_statistics(engine, full=True) is True  # the daily job


def test_app_home_statistics_are_reused_then_refreshed_in_the_background(services):
    """The App Home's figures over whole stage histories: computed on the first open, reused for
    15 minutes, then shown stale while a background thread computes them again; after a week, computed at once."""
    calls: list[int] = []

    def compute(figures) -> int:
        assert figures is not None
        calls.append(1)
        return len(calls)

    home = services.home
    now = services.clock.now()
    with UnitOfWork(home.uow().engine) as uow:
        assert home._cached(("k",), now, compute, uow.figures) == 1
        assert home._cached(("k",), now + timedelta(minutes=14), compute, uow.figures) == 1
        assert len(calls) == 1
        assert home._cached(("k",), now + timedelta(minutes=16), compute, uow.figures) == 1  # stale, refreshed behind
    assert home._pool is not None
    home._pool.shutdown(wait=True)
    home._pool = None
    assert len(calls) == 2
    with UnitOfWork(home.uow().engine) as uow:
        assert home._cached(("k",), now + timedelta(minutes=20), compute, uow.figures) == 2
        assert home._cached(("k",), now + timedelta(days=8), compute, uow.figures) == 3  # too old to show: computed now
