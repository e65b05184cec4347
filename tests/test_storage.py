"""The storage layer on SQLite and PostgreSQL: migrations match the models, numbering under
concurrency, workspace scoping, timezone-aware times, append-only history."""

from __future__ import annotations

import threading
from datetime import timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk import WebClient
from sqlmodel import Session, SQLModel, select

from bot.deals.service import Pipeline
from bot.domain.clock import FakeClock
from bot.domain.values import NotFound, OpportunityDraft
from bot.slack.gateway import SlackGateway
from bot.workspace.config import parse_config
from storage.db import UnitOfWork, pending_migrations
from storage.models import Opportunity, Stage, StageChange, Workspace
from tests.conftest import START, TEST_CONFIG


@pytest.fixture
def pipeline(engine, fake_slack):
    client = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    return Pipeline(lambda write=False: UnitOfWork(engine, write=write), FakeClock(START), parse_config(TEST_CONFIG, "t.toml"), SlackGateway(client))


def draft(pipeline: Pipeline, team_id: str = "T0TEST", owner: str = "U0REP1", **extra) -> OpportunityDraft:
    stage = pipeline.stage_model(team_id).first
    return OpportunityDraft(name="Deal", customer="Cust", owner_id=owner, stage_id=stage.id, currency="USD", **extra)


def test_migrations_match_the_models(engine):
    assert not pending_migrations(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_numbers_are_unique_and_gapless_under_concurrent_creates(pipeline, engine):
    actor = pipeline.actor("T0TEST", "U0REP1")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                pipeline.create(actor, draft(pipeline))
        except BaseException as exc:  # noqa: BLE001 - reported below
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


def test_each_workspace_has_its_own_numbers_and_sees_only_its_own_rows(pipeline):
    rep_a = pipeline.actor("T0TEST", "U0REP1")
    rep_b = pipeline.actor("T0OTHERTEAM", "U0REP1")
    first_a = pipeline.create(rep_a, draft(pipeline))
    first_b = pipeline.create(rep_b, draft(pipeline, "T0OTHERTEAM"))
    assert (first_a.number, first_b.number) == (1, 1)
    assert pipeline.find(rep_b, number=1).id == first_b.id
    with pytest.raises(NotFound):
        pipeline.find(rep_b, opp_id=first_a.id)
    assert pipeline.stage_model("T0OTHERTEAM").first.id != pipeline.stage_model("T0TEST").first.id


def test_times_come_back_timezone_aware_in_utc(pipeline, engine):
    actor = pipeline.actor("T0TEST", "U0REP1")
    created = pipeline.create(actor, draft(pipeline, amount=Decimal("12.50")))
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


def test_history_is_appended_never_rewritten(pipeline, engine):
    actor = pipeline.actor("T0TEST", "U0REP1")
    opp = pipeline.create(actor, draft(pipeline))
    stages = pipeline.stage_model("T0TEST").stages
    pipeline.move(actor, opp.id, stage_id=stages[1].id)
    pipeline.move(actor, opp.id, stage_id=stages[0].id)
    pipeline.win(actor, opp.id)
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


def test_changed_configuration_is_reapplied_and_removed_stages_are_retired(engine, fake_slack):
    client = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)

    def pipeline_with(text: str) -> Pipeline:
        return Pipeline(lambda write=False: UnitOfWork(engine, write=write), FakeClock(START), parse_config(text, "t.toml"), SlackGateway(client))

    first = pipeline_with('[[stages]]\nname = "Lead"\n[[stages]]\nname = "Demo"\nprobability = 40\n')
    actor = first.actor("T0TEST", "U0REP1")
    opp = first.create(actor, draft(first))
    lead_id = first.stage_model("T0TEST").first.id

    second = pipeline_with('[[stages]]\nname = "Qualify"\n[[stages]]\nname = "Demo"\nprobability = 60\n')
    model = second.stage_model("T0TEST")
    assert [s.name for s in model.stages] == ["Qualify", "Demo"]
    assert model.stages[1].probability == 60
    assert [s.name for s in model.retired] == ["Lead"]
    assert second.find(actor, opp_id=opp.id).stage_id == lead_id  # history keeps its stage
    with Session(engine) as session:
        assert session.scalars(select(Stage).where(Stage.team_id == "T0TEST")).all().__len__() == 3


def test_upgrade_gives_sqlite_planner_statistics_and_refreshes_them_when_stale(engine, pipeline):
    """SQLite never gathers statistics itself (PRAGMA optimize on a fresh connection does nothing):
    without them the planner picks bad indexes at scale. upgrade() analyzes; PostgreSQL is left to autovacuum."""
    from storage.db import refresh_statistics, upgrade

    upgrade(engine)  # nothing to migrate: a no-op apart from the statistics check
    if engine.dialect.name != "sqlite":
        assert refresh_statistics(engine) is False and refresh_statistics(engine, full=True) is False
        return
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar_one() == 1
    stage_id = pipeline.stage_model("T0TEST").first.id
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


def test_app_home_statistics_are_reused_then_refreshed_in_the_background(pipeline):
    """The App Home's figures over whole stage histories: computed on the first open, reused for
    15 minutes, then shown stale while a background thread computes them again; after a week, computed at once."""
    calls: list[int] = []

    def compute(session) -> int:
        assert session is not None
        calls.append(1)
        return len(calls)

    now = pipeline.clock.now()
    with pipeline.uow() as uow:
        assert pipeline._cached(("k",), now, uow, compute) == 1
        assert pipeline._cached(("k",), now + timedelta(minutes=14), uow, compute) == 1
        assert len(calls) == 1
        assert pipeline._cached(("k",), now + timedelta(minutes=16), uow, compute) == 1  # stale, refreshed behind
    pipeline._home_stats_pool.shutdown(wait=True)
    pipeline._home_stats_pool = None
    assert len(calls) == 2
    with pipeline.uow() as uow:
        assert pipeline._cached(("k",), now + timedelta(minutes=20), uow, compute) == 2
        assert pipeline._cached(("k",), now + timedelta(days=8), uow, compute) == 3  # too old to show: computed now
