"""Digests of many teams built in one batch: the same figures as team by team, in a handful of statements."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, insert, select

from bot.digests.service import DIGEST, DIGEST_CHART, DIGEST_POST
from bot.digests.views import digest_message
from bot.domain.clock import FakeClock
from bot.domain.money import ExchangeRate, Rates
from bot.domain.values import LOST, OPEN, WON
from bot.i18n import ENGLISH, translator
from bot.workspace.config import parse_config
from storage import analytics, visits
from storage.db import UnitOfWork
from storage.models import Delivery, FollowUp, Opportunity, StageChange
from tests.driver import running_app
from tests.support import make_services

EN = translator(ENGLISH)

TEAM = "T0TEST"
# 20:00 UTC on 30 Nov is already 1 Dec in Shanghai: the teams' months (expected closes) differ.
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc)
REPS = {"North": ["U0N1", "U0N2", "U0N3"], "South": ["U0S1", "U0S2"], "West": ["U0W1", "U0W2", "U0W3", "U0W4"], "Empty": []}
CONFIG = """
[workspace]
currency = "USD"
timezone = "UTC"
admins = ["U0ADMIN"]
""" + "".join(f"""
[[teams]]
name = "{name}"
manager = "U0M{name.upper()}"
members = {members!r}
{'timezone = "Asia/Shanghai"' if name == "South" else ""}
""".replace("'", '"') for name, members in REPS.items())

USD = Rates("USD", (ExchangeRate("EUR", Decimal("1.08"), date(2026, 11, 1)),))  # the batch converts as one scope does

def same(a, b) -> bool:
    """Equal, floats to 1e-12 relative: an average of doubles depends on the order the database adds
    them in, which a different plan (or a parallel one, even for the same statement) changes in the last bit."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def seed(uow, stage_ids: list[int], deals: int = 400) -> None:
    """Deals with stage histories (moves on, back, reopened, won, lost), hand-overs between reps of
    different teams, deals of people on no team, other currencies, follow-ups (some overdue)."""
    rng = random.Random(7)
    owners = [rep for reps in REPS.values() for rep in reps] + ["U0NOBODY"]
    opportunities, changes, follow_ups = [], [], []
    for n in range(deals):
        opp_id = 1000 + n
        created = NOW - timedelta(days=rng.uniform(0, 200))
        owner = rng.choice(owners)
        at, stage, status, history = created, 0, OPEN, []
        history.append((None, None, stage_ids[0], OPEN, owner, at))
        for _ in range(rng.randint(0, 6)):
            at += timedelta(days=rng.lognormvariate(1.5, 0.8))
            if at >= NOW:
                break
            if rng.random() < 0.15:
                owner = rng.choice(owners)  # handed over: later visits are the new owner's
            roll = rng.random()
            if status != OPEN:
                new_stage, new_status = stage, OPEN  # reopened
            elif roll < 0.5 and stage + 1 < len(stage_ids):
                new_stage, new_status = stage + 1, OPEN
            elif roll < 0.6 and stage > 0:
                new_stage, new_status = stage - 1, OPEN
            elif roll < 0.8:
                new_stage, new_status = stage, WON
            else:
                new_stage, new_status = stage, LOST
            history.append((stage_ids[stage], status, stage_ids[new_stage], new_status, owner, at))
            stage, status = new_stage, new_status
        for from_stage, from_status, to_stage, to_status, who, when in history:
            changes.append(dict(team_id=TEAM, opportunity_id=opp_id, from_stage_id=from_stage, from_status=from_status,
                                to_stage_id=to_stage, to_status=to_status, changed_by=who, owner_id=who, changed_at=when))
        entered = history[-1][5]
        opportunities.append(dict(
            id=opp_id, team_id=TEAM, number=n + 1, name=f"Deal {n}", customer="C",
            amount=None if n % 11 == 0 else Decimal(rng.randint(100, 90_000)), currency="EUR" if n % 7 == 0 else "USD",
            close_date=(NOW + timedelta(days=rng.randint(-20, 60))).date(), stage_id=stage_ids[stage], status=status,
            lost_reason="Price" if status == LOST else None, owner_id=owner, created_by=owner, created_at=created,
            updated_at=entered, stage_entered_at=entered, closed_at=entered if status != OPEN else None))
        if status == OPEN and n % 3:
            follow_ups.append(dict(team_id=TEAM, opportunity_id=opp_id, text="call", due_at=NOW + timedelta(days=rng.uniform(-9, 9)),
                                   assignee_id=rng.choice([owner, owner, "U0N1"]), status="pending", created_by=owner, created_at=created))
    with uow(write=True) as u:
        u.session.execute(insert(Opportunity), opportunities)
        u.session.execute(insert(StageChange), changes)
        u.session.execute(insert(FollowUp), follow_ups)
        visits.derive(u.session, TEAM)
        u.commit()


@pytest.fixture
def services(engine):
    clock = FakeClock(NOW)
    uow = lambda write=False: UnitOfWork(engine, write=write)  # noqa: E731
    services, _ = make_services(engine, clock, CONFIG)  # the gateway is never called
    services.workspaces.ensure_workspace(TEAM)
    seed(uow, [s.id for s in services.workspaces.pipelines(TEAM).default.stages])
    return services


def test_batched_digests_equal_the_per_team_digests(services, engine):
    teams = services.teams.all(TEAM)
    assert sorted(t.name for t in teams) == sorted(REPS)
    # two teams share a `since`, the others have their own: figures with windows run once per window
    sinces = [NOW - timedelta(days=d) for d in (7, 7, 30, 1)]
    batch = services.digests.build_many(TEAM, list(zip(teams, sinces)), NOW)
    stages = services.workspaces.pipelines(TEAM).default
    for team, since, batched in zip(teams, sinces, batch):
        alone = services.digests.build(TEAM, team, since, NOW)
        assert same(batched, alone), team.name
        assert digest_message(batched, stages, t=EN) == digest_message(alone, stages, t=EN)
    # the figures are not trivially equal: every populated team has some of each
    for data in batch:
        if data.team.member_ids:
            assert sum(p.count for p in data.own.pipeline) > 0 and data.own.changes.new.total > 0
            assert data.own.win_rate.won_count + data.own.win_rate.lost_count > 0 and data.own.stalled.total > 0 and data.overdue
            assert any(s.reached for s in data.own.funnel.steps) and any(r.stages[0].visits for r in data.own.reps.reps)
        else:
            assert sum(p.count for p in data.own.pipeline) == 0 and data.own.reps.team.stages[0].visits == 0
    # hand-overs: some team's rep funnel counts visits that are not on its current deals
    assert any(sum(s.visits for s in d.own.reps.team.stages) != sum(s.visits for s in d.own.dwell) for d in batch if d.team.member_ids)
    assert {d.own.closes_this_month for d in batch} != {batch[0].own.closes_this_month} or batch[1].own.closes_this_month.count == 0


def test_a_batch_costs_the_statements_of_one_digest(services, engine):
    teams = [t for t in services.teams.all(TEAM) if t.name != "South"]  # South's months differ (time zone)
    since = NOW - timedelta(days=7)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    counts = []
    for chosen in (teams[:1], teams):
        event.listen(engine, "before_cursor_execute", count)
        try:
            services.digests.build_many(TEAM, [(t, since) for t in chosen], NOW)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        # queries (not SQLite's temporary owner tables: created once per batch, filled by one executemany)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")) and "sqlite_temp_master" not in s]))
        statements.clear()
    assert counts[0] == counts[1] <= 20  # 12 figures: one statement each, and the stage list four times


def test_batch_figures_equal_single_scope_figures(services, engine):
    """Every `…_each` figure against the same figure scope by scope, with medians, filters and a workspace scope."""
    teams = services.teams.all(TEAM)
    scopes = [analytics.Scope(TEAM, owner_ids=t.member_ids or ("",), industry=None) for t in teams]
    since, until = NOW - timedelta(days=60), NOW
    with UnitOfWork(engine) as uow:
        figures = [
            (uow.figures.pipeline_by_stage_each(scopes, USD), lambda sc: uow.figures.pipeline_by_stage(sc, USD)),
            (uow.figures.changes_between_each(scopes, since, until, limit=3), lambda sc: uow.figures.changes_between(sc, since, until, limit=3)),
            (uow.figures.win_rate_each(scopes, since, until, USD), lambda sc: uow.figures.win_rate(sc, since, until, USD)),
            (uow.figures.stage_conversion_each(scopes, since), lambda sc: uow.figures.stage_conversion(sc, since)),
            (uow.figures.stage_dwell_each(scopes, NOW), lambda sc: uow.figures.stage_dwell(sc, NOW)),
            (uow.figures.cycle_length_each(scopes, since, until), lambda sc: uow.figures.cycle_length(sc, since, until)),
            (uow.figures.stage_medians_each(scopes, NOW), lambda sc: uow.figures.stage_medians(sc, NOW)),
            (uow.figures.stalled_each(scopes, NOW, 1.5, 4), lambda sc: uow.figures.stalled(sc, NOW, 1.5, 4)),
            (uow.figures.rep_funnels_each(scopes, NOW), lambda sc: uow.figures.rep_funnels(sc, NOW)),
            (uow.figures.expected_closes_each(scopes, USD, date(2026, 11, 1), date(2026, 12, 1)),
             lambda sc: uow.figures.expected_closes(sc, USD, date(2026, 11, 1), date(2026, 12, 1))),
            (uow.figures.overdue_follow_ups_each(scopes, NOW), lambda sc: uow.figures.overdue_follow_ups_by_rep(sc, NOW)),
            (uow.figures.open_without_follow_up_each(scopes, 2), lambda sc: uow.figures.open_without_follow_up(sc, 2)),
        ]
        for batched, single in figures:
            assert same(batched, [single(scope) for scope in scopes])
        # the medians stalled deals are measured against are the dwell figures' (what the digest passes)
        # (a median is one value or the mean of two: exact whatever the order)
        assert [analytics.medians_of(d) for d in uow.figures.stage_dwell_each(scopes, NOW)] == uow.figures.stage_medians_each(scopes, NOW)
        # one rep, the whole workspace and a filtered scope still work as scopes of their own
        assert uow.figures.stage_dwell(analytics.Scope(TEAM), NOW)[0].visits > uow.figures.stage_dwell(scopes[0], NOW)[0].visits
        assert uow.figures.rep_funnels(analytics.Scope(TEAM, owner_ids=("U0N1",)), NOW).reps[0].owner_id == "U0N1"
        with pytest.raises(ValueError):
            uow.figures.pipeline_by_stage_each([scopes[0], scopes[0]], USD)  # an owner in two scopes at once
        with pytest.raises(ValueError):
            uow.figures.pipeline_by_stage_each([scopes[0], analytics.Scope(TEAM, owner_ids=("U0X",), industry="Retail")], USD)


MANY_TEAMS = """
[workspace]
currency = "USD"
timezone = "Asia/Shanghai"
admins = ["U0ADMIN"]
""" + "".join(f"""
[[teams]]
name = "Team {i}"
manager = "U0MGR"
members = ["U0REP{i}"]
""" for i in (1, 2)) + """
[[teams]]
name = "Team 3"
manager = "U0ADMIN"
members = []
channel = "C0THREE"
"""


def test_teams_due_at_the_same_minute_are_built_in_one_batch(engine, fake_slack, clock):
    config = parse_config(MANY_TEAMS, "many.toml")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        digests, dispatcher = slack.oppbot.services.digests, slack.oppbot.dispatcher
        slack.oppbot.services.workspaces.ensure_workspace(TEAM)
        batches = []
        build_many = digests.build_many

        def spy(team_id, requests, now=None):
            batches.append(sorted(team.name for team, _ in requests))
            return build_many(team_id, requests, now)

        digests.build_many = spy
        dispatcher.run_once()  # first sight of the teams: baselines, nothing sent
        assert batches == []
        clock.set(datetime(2026, 12, 2, 0, 30, tzinfo=timezone.utc))  # 08:30 in Shanghai, every team's time
        dispatcher.run_once()
        dispatcher.run_once()
        assert batches == [["Team 1", "Team 2", "Team 3"]]
        texts = [c.params["channel"] for c in fake_slack.calls("chat.postMessage") if "pipeline digest" in c.params.get("text", "")]
        assert sorted(texts) == ["C0THREE", "DU0ADMIN", "DU0MGR", "DU0MGR"]
        # The manager's DM gets two posts and two charts at once: three go, the fourth waits a second for its slot.
        clock.advance(seconds=1)
        dispatcher.run_once()  # ... and nothing twice
        assert batches == [["Team 1", "Team 2", "Team 3"]] and len(fake_slack.calls("chat.postMessage")) == 4
        # In each destination every chart comes after its message, however fast it was drawn.
        for channel in ("DU0MGR", "DU0ADMIN", "C0THREE"):
            order = ["post" if c.method == "chat.postMessage" else "chart" for c in fake_slack.calls()
                     if c.method in ("chat.postMessage", "files.completeUploadExternal")
                     and channel in (c.params.get("channel"), c.params.get("channel_id"), c.params.get("channels"))]
            assert order == ["post", "chart"] * (2 if channel == "DU0MGR" else 1), (channel, order)
        with UnitOfWork(engine) as uow:
            rows = list(uow.session.scalars(select(Delivery).where(Delivery.kind.in_((DIGEST, DIGEST_POST, DIGEST_CHART)))))
        assert sorted((r.kind, r.status) for r in rows if r.status != "cancelled") == (
            [("digest", "sent")] * 3 + [("digest_chart", "sent")] * 4 + [("digest_post", "sent")] * 4)


def test_a_digest_that_fails_to_render_is_retried_alone(engine, fake_slack, clock, monkeypatch):
    from bot.digests import service as digest_module

    config = parse_config(MANY_TEAMS, "many.toml")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        dispatcher = slack.oppbot.dispatcher
        slack.oppbot.services.workspaces.ensure_workspace(TEAM)
        dispatcher.run_once()
        clock.set(datetime(2026, 12, 2, 0, 30, tzinfo=timezone.utc))
        real = digest_module.digest_message

        def flaky(data, stages, **kwargs):
            if data.team.name == "Team 2":
                raise RuntimeError("boom")
            return real(data, stages, **kwargs)

        monkeypatch.setattr(digest_module, "digest_message", flaky)
        stats = dispatcher.run_once()
        assert stats.retried == 1 and "RuntimeError: boom" in stats.errors
        monkeypatch.setattr(digest_module, "digest_message", real)
        clock.advance(timedelta(minutes=5))
        dispatcher.run_once()
        dispatcher.run_once()
        targets = sorted(c.params["channel"] for c in fake_slack.calls("chat.postMessage") if "pipeline digest" in c.params.get("text", ""))
        assert targets == ["C0THREE", "DU0ADMIN", "DU0MGR", "DU0MGR"]
