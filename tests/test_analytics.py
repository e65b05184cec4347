"""Pipeline analytics (storage/analytics/) against a hand-computed pipeline, on SQLite and
PostgreSQL; and a bounded number of queries whatever the data size.

The fixture, for workspace T0TEST (times are day numbers d counted from 2026-01-01 00:00 UTC;
d(90) is 2026-04-01; NOW = d(100.5) = 2026-04-11 12:00 UTC; the digest window is [d93, d100)).
Stages S1..S4 (positions 0..3): probability 10/30/50/80 %, max_days 14/21/30/21.
Reps U0REP1 and U0REP2 form the team scope; U0REP3 is in the workspace but outside the team.

 deal     owner  amount        history                                                    now
 A OPP-1  REP1   10000 USD     new S1 d60, S2 d62, S3 d93, S4 d95                         open S4
 B OPP-2  REP1   20000 USD     new S1 d50 (owner then: REP2), S2 d52, S3 d60, S2 d94      open S2 (moved back)
 C OPP-3  REP2   30000 USD     new S1 d40, S2 d41, S3 d50, S4 d60, won d96                won
 D OPP-4  REP2    5000 USD     new S1 d80, S2 d83, lost d97 "Budget cut"                  lost
 E OPP-5  REP1    8000 USD     new S1 d20, S2 d22, S3 d30, won d93, reopened S3 d94,
                               lost d98 "Went with competitor"                            lost
 F OPP-6  REP2 12000.25 USD    new S2 d85 (created directly in stage 2)                   open S2
 G OPP-7  REP1   50000 EUR     new S1 d94, S2 d97                                         open S2
 H OPP-8  REP1    7000 USD     new S1 d50, S2 d53, S3 d60                                 open S3 (40.5 d > max 30)
 I OPP-9  REP2    (no amount)  new S1 d90                                                 open S1 (10.5 d; too few S1 visits for a norm)
 J OPP-10 REP3  100000 USD     new S1 d100 (outside the team, and at the window's end)    open S1
 L OPP-11 REP1    4000 USD     new S1 d70, S2 d74, won d95, reopened S2 d99               open S2
 M OPP-12 REP2   15000 USD     new S1 d30.5, won d45 (straight from stage 1)              won

Workspace T0OTHER has its own stages, a deal owned by "U0REP1" changed in the window, a stalled
deal and an overdue follow-up: none of it may show up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Float, Integer, String, event, func, insert, select, text
from sqlmodel import Session

from bot.domain.money import ExchangeRate, Money, Rates
from bot.domain.values import LOST, OPEN, WON
from storage import analytics, visits
from storage.analytics import (
    ChangedDeal,
    CycleLength,
    DealRef,
    ExpectedCloses,
    Figures,
    Funnel,
    OverdueFollowUps,
    RepLoad,
    ReportRow,
    RepRecord,
    RepStage,
    Scope,
    Similar,
    StageDwell,
    StagePipeline,
    StageStep,
    WinRate,
)
from storage.analytics._sql import _rows
from storage.models import FollowUp, Opportunity, Pipeline, Stage, StageChange, Workspace

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)


def d(days: float) -> datetime:
    return BASE + timedelta(days=days)


NOW = d(100.5)
SINCE, UNTIL = d(93), d(100)
TEAM, OTHER = "T0TEST", "T0OTHER"
REP1, REP2, REP3, SE = "U0REP1", "U0REP2", "U0REP3", "U0SE"
TEAM_SCOPE = Scope(TEAM, owner_ids=(REP1, REP2))
WORKSPACE = Scope(TEAM)
approx = pytest.approx


@dataclass
class Seeded:
    stage: dict[int, int]  # stage number 1..4 -> id
    deal: dict[str, int]  # letter -> opportunity id


def add_stages(session: Session, team_id: str) -> dict[int, int]:
    stages = {}
    pipeline = Pipeline(team_id=team_id, position=0, name="Sales")
    session.add(pipeline)
    session.flush()
    for number, (name, probability, max_days) in enumerate(
            (("Prospect", 10, 14), ("Solution design", 30, 21), ("Technical evaluation", 50, 30), ("Negotiation", 80, 21)), start=1):
        stage = Stage(team_id=team_id, pipeline_id=pipeline.id, position=number - 1, name=name, probability=probability, max_days=max_days)
        session.add(stage)
        session.flush()
        stages[number] = stage.id
    return stages


def add_deal(session: Session, team_id: str, stages: dict[int, int], number: int, owner: str, amount: str | None,
             history: list[tuple], currency: str = "USD", **fields) -> int:
    """history: (kind, day[, stage number or lost reason][, owner at that change]) with kind
    new | move | won | lost | reopen. Builds the stage_change rows the app would have written and
    the opportunity row as the app would have left it."""
    changes, stage_id, status = [], None, None
    created = entered = closed = None
    reason = None
    for kind, day, *rest in history:
        arg = rest[0] if rest else None
        change_owner = rest[1] if len(rest) > 1 else owner
        if kind in ("new", "move", "reopen"):
            to_stage, to_status = stages[arg], OPEN
        else:
            to_stage, to_status = stage_id, (WON if kind == "won" else LOST)
        reason = arg if kind == "lost" else None
        changes.append(dict(from_stage_id=stage_id, from_status=status, to_stage_id=to_stage, to_status=to_status,
                            owner_id=change_owner, changed_by=change_owner, changed_at=d(day), lost_reason=reason))
        if kind == "new":
            created = d(day)
        if (to_stage, to_status) != (stage_id, status):
            entered = d(day)
        stage_id, status = to_stage, to_status
        closed = d(day) if status in (WON, LOST) else None
    opp = Opportunity(team_id=team_id, number=number, name=f"Deal {number}", customer="Acme",
                      amount=Decimal(amount) if amount is not None else None, currency=currency, stage_id=stage_id,
                      status=status, lost_reason=reason, owner_id=owner, created_by=owner, created_at=created,
                      updated_at=created, stage_entered_at=entered, closed_at=closed, **fields)
    session.add(opp)
    session.flush()
    for change in changes:
        session.add(StageChange(team_id=team_id, opportunity_id=opp.id, **change))
    session.flush()
    return opp.id


def follow_up(session: Session, team_id: str, opp_id: int, assignee: str, due: float, status: str = "pending") -> None:
    session.add(FollowUp(team_id=team_id, opportunity_id=opp_id, text="Call back", due_at=d(due), assignee_id=assignee,
                         status=status, created_by=assignee, created_at=d(0)))


def seed(session: Session) -> Seeded:
    for team_id in (TEAM, OTHER):
        session.add(Workspace(team_id=team_id, currency="USD", timezone="UTC", created_at=d(0)))
    s = add_stages(session, TEAM)
    deal = {
        "A": add_deal(session, TEAM, s, 1, REP1, "10000", [("new", 60, 1), ("move", 62, 2), ("move", 93, 3), ("move", 95, 4)],
                      industry="Finance", region="East", company_size="51-500", found="foreseen", reach="strategic",
                      close_date=date(2026, 4, 20)),
        "B": add_deal(session, TEAM, s, 2, REP1, "20000", [("new", 50, 1, REP2), ("move", 52, 2), ("move", 60, 3), ("move", 94, 2)],
                      industry="Finance", region="West", company_size="501-5000", reach="tactical",
                      close_date=date(2026, 4, 30)),
        "C": add_deal(session, TEAM, s, 3, REP2, "30000",
                      [("new", 40, 1), ("move", 41, 2), ("move", 50, 3), ("move", 60, 4), ("won", 96)],
                      industry="Healthcare", region="East", company_size="5000+", reach="strategic",
                      close_date=date(2026, 4, 10)),
        "D": add_deal(session, TEAM, s, 4, REP2, "5000", [("new", 80, 1), ("move", 83, 2), ("lost", 97, "Budget cut")],
                      industry="Healthcare"),
        "E": add_deal(session, TEAM, s, 5, REP1, "8000",
                      [("new", 20, 1), ("move", 22, 2), ("move", 30, 3), ("won", 93), ("reopen", 94, 3),
                       ("lost", 98, "Went with competitor")],
                      industry="Retail", region="East"),
        "F": add_deal(session, TEAM, s, 6, REP2, "12000.25", [("new", 85, 2)], region="South", close_date=date(2026, 5, 1)),
        "G": add_deal(session, TEAM, s, 7, REP1, "50000", [("new", 94, 1), ("move", 97, 2)], currency="EUR",
                      industry="Finance", region="East", close_date=date(2026, 4, 15)),
        "H": add_deal(session, TEAM, s, 8, REP1, "7000", [("new", 50, 1), ("move", 53, 2), ("move", 60, 3)],
                      industry="Retail", close_date=date(2026, 3, 31)),
        "I": add_deal(session, TEAM, s, 9, REP2, None, [("new", 90, 1)], close_date=date(2026, 4, 1)),
        "J": add_deal(session, TEAM, s, 10, REP3, "100000", [("new", 100, 1)], industry="Finance",
                      close_date=date(2026, 4, 5)),
        "L": add_deal(session, TEAM, s, 11, REP1, "4000", [("new", 70, 1), ("move", 74, 2), ("won", 95), ("reopen", 99, 2)],
                      industry="Technology"),
        "M": add_deal(session, TEAM, s, 12, REP2, "15000", [("new", 30.5, 1), ("won", 45)], industry="Technology"),
    }
    follow_up(session, TEAM, deal["A"], REP1, 98)  # overdue
    follow_up(session, TEAM, deal["B"], REP1, 95)  # overdue, REP1's oldest
    follow_up(session, TEAM, deal["D"], REP2, 85, status="done")
    follow_up(session, TEAM, deal["F"], REP2, 99)  # overdue
    follow_up(session, TEAM, deal["F"], REP2, 105)  # pending, not due yet
    follow_up(session, TEAM, deal["G"], SE, 97)  # overdue, assigned to a solutions engineer
    follow_up(session, TEAM, deal["H"], REP1, 99, status="cancelled")
    follow_up(session, TEAM, deal["J"], REP3, 90)  # overdue, outside the team

    o = add_stages(session, OTHER)
    k1 = add_deal(session, OTHER, o, 1, REP1, "999999.99", [("new", 94, 1), ("move", 95, 2), ("won", 96)],
                  industry="Finance", close_date=date(2026, 4, 10))
    k2 = add_deal(session, OTHER, o, 2, REP1, "777", [("new", 10, 1)], industry="Finance", close_date=date(2026, 4, 10))
    follow_up(session, OTHER, k2, REP1, 50)
    follow_up(session, OTHER, k1, REP2, 60)
    visits.derive(session)
    session.commit()
    return Seeded(stage=s, deal=deal)


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        seeded = seed(session)
        if engine.dialect.name == "postgresql":
            # Nothing may depend on the connection's time zone (month buckets, day arithmetic).
            session.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))
        session.info["seeded"] = seeded
        yield session


@pytest.fixture
def ids(session) -> Seeded:
    return session.info["seeded"]


# ----- 1 ---------------------------------------------------------------------------------------


USD = Rates("USD")
USD_AND_EUR = Rates("USD", (ExchangeRate("EUR", Decimal("1.1"), date(2026, 3, 30)),))


def usd(amount: str, *apart: tuple[str, str], converted: tuple[str, ...] = ()) -> Money:
    return Money("USD", Decimal(amount), tuple((c, Decimal(a)) for c, a in apart), converted)


def test_pipeline_by_stage(session, ids):
    s = ids.stage
    # Open team deals: I in S1 (no amount); B 20000, F 12000.25, G 50000 EUR, L 4000 in S2; H 7000 in S3; A 10000 in S4.
    # S2: amount 20000 + 12000.25 + 4000 = 36000.25; weighted 36000.25 x 30 / 100 = 10800.075 -> 10800.08 (half up);
    #     G has no rate into USD: EUR 50000 (weighted 15000) is its own subtotal.
    # S3: 7000 x 50% = 3500.  S4: 10000 x 80% = 8000.
    assert Figures(session).pipeline_by_stage(TEAM_SCOPE, USD) == [
        StagePipeline(s[1], 1, usd("0.00"), usd("0.00")),
        StagePipeline(s[2], 4, usd("36000.25", ("EUR", "50000.00")), usd("10800.08", ("EUR", "15000.00"))),
        StagePipeline(s[3], 1, usd("7000.00"), usd("3500.00")),
        StagePipeline(s[4], 1, usd("10000.00"), usd("8000.00")),
    ]
    # With EUR at 1.1, S2 = 36000.25 + 50000 x 1.1 = 91000.25; weighted 10800.075 + 15000 x 1.1 = 27300.075 -> 27300.08
    # (rounded once, after the conversion).
    assert Figures(session).pipeline_by_stage(TEAM_SCOPE, USD_AND_EUR)[1] == StagePipeline(
        s[2], 4, usd("91000.25", converted=("EUR",)), usd("27300.08", converted=("EUR",)))
    # The whole workspace adds J (REP3) in S1: 100000, weighted 10% = 10000.
    assert Figures(session).pipeline_by_stage(WORKSPACE, USD)[0] == StagePipeline(s[1], 2, usd("100000.00"), usd("10000.00"))
    # A EUR workspace with no USD rate: G's 50000 (weighted 15000) in EUR; B, F and L are the USD subtotal.
    assert Figures(session).pipeline_by_stage(TEAM_SCOPE, Rates("EUR"))[1] == StagePipeline(
        s[2], 4, Money("EUR", Decimal("50000.00"), (("USD", Decimal("36000.25")),)),
        Money("EUR", Decimal("15000.00"), (("USD", Decimal("10800.08")),)))
    # The team's Finance deals only: B and G in S2 (20000, weighted 6000; G's EUR apart), A in S4.
    finance = Figures(session).pipeline_by_stage(Scope(TEAM, owner_ids=(REP1, REP2), industry="Finance"), USD)
    assert [(p.count, p.amount, p.weighted_amount) for p in finance] == [
        (0, usd("0.00"), usd("0.00")), (2, usd("20000.00", ("EUR", "50000.00")), usd("6000.00", ("EUR", "15000.00"))),
        (0, usd("0.00"), usd("0.00")), (1, usd("10000.00"), usd("8000.00"))]
    # An empty scope still lists the stages.
    assert [p.count for p in Figures(session).pipeline_by_stage(Scope(TEAM, owner_ids=()), USD)] == [0, 0, 0, 0]


def test_a_retired_stage_is_listed_only_while_deals_sit_in_it(session, ids):
    session.get(Stage, ids.stage[3]).active = False
    session.get(Stage, ids.stage[3]).position = 1002
    session.flush()
    stages = [p.stage_id for p in Figures(session).pipeline_by_stage(TEAM_SCOPE, USD)]
    assert stages == [ids.stage[1], ids.stage[2], ids.stage[4], ids.stage[3]]  # H still sits in the retired S3


# ----- 2 ---------------------------------------------------------------------------------------


def test_changes_between(session, ids):
    s, o = ids.stage, ids.deal
    changes = Figures(session).changes_between(TEAM_SCOPE, SINCE, UNTIL)

    def summary(changes_list):
        return [(c.number, c.from_stage_id, c.to_stage_id, c.changed_at) for c in changes_list.deals]

    # In [d93, d100): G created d94. (J's creation at d100 is outside the window and the team.)
    assert summary(changes.new) == [(7, None, s[1], d(94))]
    # Advances: A S2->S3 d93 and S3->S4 d95 (once, its latest); G S1->S2 d97. Newest first.
    assert summary(changes.advanced) == [(7, s[1], s[2], d(97)), (1, s[3], s[4], d(95))]
    assert summary(changes.moved_back) == [(2, s[3], s[2], d(94))]
    # Wins in the window, whatever happened after: C d96, L d95 (reopened d99), E d93 (lost d98).
    assert summary(changes.won) == [(3, s[4], s[4], d(96)), (11, s[2], s[2], d(95)), (5, s[3], s[3], d(93))]
    assert summary(changes.lost) == [(5, s[3], s[3], d(98)), (4, s[2], s[2], d(97))]
    assert summary(changes.reopened) == [(11, s[2], s[2], d(99)), (5, s[3], s[3], d(94))]
    assert changes.lost.deals[0] == ChangedDeal(
        opportunity_id=o["E"], number=5, name="Deal 5", owner_id=REP1, amount=Decimal("8000.00"), currency="USD",
        from_stage_id=s[3], to_stage_id=s[3], changed_at=d(98), lost_reason="Went with competitor")
    assert changes.lost.deals[1].lost_reason == "Budget cut"
    assert changes.won.deals[2].lost_reason is None  # E is lost now, but this is its win
    assert changes.new.deals[0].amount == Decimal("50000.00") and changes.new.deals[0].currency == "EUR"
    assert [c.total for c in (changes.new, changes.advanced, changes.moved_back, changes.won, changes.lost, changes.reopened)] == [1, 2, 1, 3, 2, 2]

    limited = Figures(session).changes_between(TEAM_SCOPE, SINCE, UNTIL, limit=1)
    assert (limited.won.total, [c.number for c in limited.won.deals]) == (3, [3])
    assert (limited.advanced.total, [c.number for c in limited.advanced.deals]) == (2, [7])

    # The whole workspace with the window stretched over d100 adds J as new; T0OTHER's deal never shows.
    wide = Figures(session).changes_between(WORKSPACE, SINCE, d(101))
    assert [c.number for c in wide.new.deals] == [10, 7]
    assert all(c.opportunity_id in o.values() for kind in (wide.new, wide.advanced, wide.won) for c in kind.deals)
    # REP2's deals only: C won, D lost; nothing else moved.
    rep2 = Figures(session).changes_between(Scope(TEAM, owner_ids=(REP2,)), SINCE, UNTIL)
    assert ([c.number for c in rep2.won.deals], [c.number for c in rep2.lost.deals], rep2.advanced.total) == ([3], [4], 0)


# ----- 3 ---------------------------------------------------------------------------------------


def test_win_rate(session):
    # Final outcomes decided in [d93, d100): C won (30000); D lost (5000); E lost (8000) — won d93,
    # reopened, lost d98: counted once, as lost. L won d95 but was reopened d99 and is open: not counted.
    # by count 1 / 3; by amount 30000 / (30000 + 13000) = 0.697674...
    assert Figures(session).win_rate(TEAM_SCOPE, SINCE, UNTIL, USD) == WinRate(
        1, 2, usd("30000.00"), usd("13000.00"), approx(1 / 3), approx(30000 / 43000))
    # Since d0 M's win (d45, 15000) counts too: 2 won (45000) vs 2 lost (13000).
    assert Figures(session).win_rate(TEAM_SCOPE, d(0), UNTIL, USD) == WinRate(
        2, 2, usd("45000.00"), usd("13000.00"), 0.5, approx(45000 / 58000))
    # A EUR workspace without a USD rate: the USD amounts are a subtotal apart, and there is no ratio by amount.
    eur = Figures(session).win_rate(TEAM_SCOPE, SINCE, UNTIL, Rates("EUR"))
    assert (eur.won_amount, eur.lost_amount, eur.rate_by_count, eur.rate_by_amount) == (
        Money("EUR", Decimal("0.00"), (("USD", Decimal("30000.00")),)), Money("EUR", Decimal("0.00"), (("USD", Decimal("13000.00")),)),
        approx(1 / 3), None)
    # With USD at 0.9 into EUR: 27000 won of 27000 + 11700.
    converted = Figures(session).win_rate(TEAM_SCOPE, SINCE, UNTIL, Rates("EUR", (ExchangeRate("USD", Decimal("0.9"), date(2026, 3, 1)),)))
    assert (converted.won_amount.amount, converted.lost_amount.amount, converted.rate_by_amount) == (
        Decimal("27000.00"), Decimal("11700.00"), approx(27000 / 38700))
    # Nothing closed in [d0, d40): no rates.
    assert Figures(session).win_rate(TEAM_SCOPE, d(0), d(40), USD) == WinRate(0, 0, usd("0.00"), usd("0.00"), None, None)
    # A window ending before E's loss still sees no win for E (its last outcome is later).
    assert Figures(session).win_rate(TEAM_SCOPE, SINCE, d(95), USD).won_count == 0


# ----- 4 ---------------------------------------------------------------------------------------


def test_stage_conversion(session, ids):
    s = ids.stage
    # Furthest stage each deal ever reached (a win ranks above every stage): A S4, B S3 (went back to S2),
    # C won, D S2 (lost), E won (reopened, then lost), F S2 (created there), G S2, H S3, I S1, L won
    # (reopened into S2), M won (straight from S1). Won now: C M; lost now: D E.
    # Reached S1: all 11; S2: all but I = 10; S3: A B C E H L M = 7; S4: A C E L M = 5; Won 2 of 5.
    assert Figures(session).stage_conversion(TEAM_SCOPE) == Funnel(steps=(
        StageStep(s[1], s[2], 11, 10, approx(10 / 11)),
        StageStep(s[2], s[3], 10, 7, approx(0.7)),
        StageStep(s[3], s[4], 7, 5, approx(5 / 7)),
        StageStep(s[4], None, 5, 2, 0.4),
    ), won=2, lost=2)
    # Deals created at/after d60: A D F G I L. S1: 6; S2: A D F G L = 5; S3 and S4: A L = 2; none won; D lost.
    assert Figures(session).stage_conversion(TEAM_SCOPE, since=d(60)) == Funnel(steps=(
        StageStep(s[1], s[2], 6, 5, approx(5 / 6)),
        StageStep(s[2], s[3], 5, 2, approx(0.4)),
        StageStep(s[3], s[4], 2, 2, 1.0),
        StageStep(s[4], None, 2, 0, 0.0),
    ), won=0, lost=1)
    # The workspace adds J (in S1): S1 12, S2 10.
    assert Figures(session).stage_conversion(WORKSPACE).steps[0] == StageStep(s[1], s[2], 12, 10, approx(10 / 12))
    # The same funnel comes with the dwell figures (digest, App Home).
    for scope in (TEAM_SCOPE, WORKSPACE, Scope(TEAM, owner_ids=(REP2,))):
        figures = Figures(session).stage_figures(scope, NOW)
        assert figures.funnel == Figures(session).stage_conversion(scope)
        assert list(figures.dwell) == Figures(session).stage_dwell(scope, NOW)


# ----- 5 ---------------------------------------------------------------------------------------


def test_stage_dwell(session, ids):
    s = ids.stage
    # Visits (days; * = still going, until NOW = d100.5):
    # S1: A 2, B 2, C 1, D 3, E 2, G 3, H 3, I 10.5*, L 4, M 14.5 (won)       -> 10 visits, sum 45
    #     sorted 1 2 2 2 3 | 3 3 4 10.5 14.5 -> median (3 + 3) / 2 = 3; avg 4.5
    #     finished: 9 visits, sum 34.5, avg 3.8333; sorted 1 2 2 2 [3] 3 3 4 14.5 -> median 3
    # S2: A 31, B 8, B 6.5*, C 9, D 14, E 8, F 15.5*, G 3.5*, H 7, L 21, L 1.5* -> 11 visits, sum 125, avg 11.3636
    #     sorted 1.5 3.5 6.5 7 8 [8] 9 14 15.5 21 31 -> median 8
    #     finished: 31 8 9 14 8 7 21 -> 7 visits, sum 98, avg 14; sorted 7 8 8 [9] 14 21 31 -> median 9
    # S3: A 2, B 34, C 10, E 63 (to the win), E 4 (reopened, to the loss), H 40.5* -> 6 visits, sum 153.5, avg 25.5833
    #     sorted 2 4 10 | 34 40.5 63 -> median (10 + 34) / 2 = 22
    #     finished: 2 34 10 63 4 -> 5 visits, sum 113, avg 22.6; sorted 2 4 [10] 34 63 -> median 10
    # S4: A 5.5*, C 36 -> 2 visits, avg = median = 20.75; finished: C 36.
    assert Figures(session).stage_dwell(TEAM_SCOPE, NOW) == [
        StageDwell(s[1], 10, approx(4.5), approx(3), 9, approx(34.5 / 9), approx(3)),
        StageDwell(s[2], 11, approx(125 / 11), approx(8), 7, approx(14), approx(9)),
        StageDwell(s[3], 6, approx(153.5 / 6), approx(22), 5, approx(22.6), approx(10)),
        StageDwell(s[4], 2, approx(20.75), approx(20.75), 1, approx(36), approx(36)),
    ]
    # The workspace adds J's visit of 0.5* in S1: 11 visits, sum 45.5; sorted 0.5 1 2 2 2 [3] ... -> median 3.
    assert Figures(session).stage_dwell(WORKSPACE, NOW)[0] == StageDwell(s[1], 11, approx(45.5 / 11), approx(3), 9, approx(34.5 / 9), approx(3))


# ----- 6 ---------------------------------------------------------------------------------------


def test_cycle_length(session):
    # Won in [d93, d100) and still won: C, created d40, won d96 -> 56 days. (L reopened, E lost since.)
    assert Figures(session).cycle_length(TEAM_SCOPE, SINCE, UNTIL) == CycleLength(1, approx(56))
    # Since d0 also M: d30.5 -> d45 = 14.5 days. (56 + 14.5) / 2 = 35.25.
    assert Figures(session).cycle_length(TEAM_SCOPE, d(0), UNTIL) == CycleLength(2, approx(35.25))
    assert Figures(session).cycle_length(TEAM_SCOPE, d(0), d(40)) == CycleLength(0, None)


# ----- 7 ---------------------------------------------------------------------------------------


def test_stalled(session, ids):
    s, o = ids.stage, ids.deal
    # Open team deals, whole days in stage at d100.5: A S4 5, B S2 6, F S2 15, G S2 3, H S3 40, I S1 10, L S2 1.
    # H: 40 > S3 max_days 30 -> "max_days".
    # The norm rule needs 10 completed visits of the stage: S1 has 9 (A 2, B 2, C 1, D 3, E 2, G 3, H 3, L 4,
    # M 14.5; I's is still going), S2 7, S3 5, S4 1: no norm anywhere, so I (10 < 14) is not stalled.
    result = Figures(session).stalled(TEAM_SCOPE, NOW)
    assert result.total == 1
    assert result.deals == (analytics.StalledDeal(o["H"], 8, "Deal 8", REP1, s[3], 40, "max_days", 30.0, 30, None, 0),)
    # without a norm to compare with, the multiplier changes nothing
    assert [x.number for x in Figures(session).stalled(TEAM_SCOPE, NOW, multiplier=1.5).deals] == [8]
    assert [x.number for x in Figures(session).stalled(TEAM_SCOPE, NOW, multiplier=4).deals] == [8]
    # REP2's deals alone (by current owner: B is REP1's now): I 10 < 14, F 15 < 21.
    assert Figures(session).stalled(Scope(TEAM, owner_ids=(REP2,)), NOW).total == 0


# ----- 8 ---------------------------------------------------------------------------------------


def test_rep_funnels(session, ids):
    s = ids.stage
    funnels = Figures(session).rep_funnels(TEAM_SCOPE, NOW)
    # Visits by the owner when they started (B's S1 visit belongs to REP2, who owned B then).
    # REP1  S1: A 2, E 2, G 3, H 3, L 4 -> entered 5, advanced 5; avg 14 / 5 = 2.8 (all finished)
    #       S2: A 31, B 8, B 6.5*, E 8, G 3.5*, H 7, L 21, L 1.5* -> entered A B E G H L = 6, advanced A B E H L = 5;
    #           8 visits, sum 86.5, avg 10.8125; finished A B E H L: 75 / 5 = 15
    #       S3: A 2, B 34, E 63, E 4, H 40.5* -> entered A B E H = 4, advanced A E = 2; avg 143.5 / 5 = 28.7;
    #           finished 103 / 4 = 25.75
    #       S4: A 5.5* -> entered 1, advanced 0; no finished visit
    # REP2  S1: B 2, C 1, D 3, I 10.5*, M 14.5 -> entered 5, advanced B C D M = 4; avg 31 / 5 = 6.2; finished 20.5 / 4 = 5.125
    #       S2: C 9, D 14, F 15.5* -> entered 3, advanced C = 1; avg 38.5 / 3; finished 23 / 2 = 11.5
    #       S3: C 10 -> 1 / 1; 10.  S4: C 36 -> 1 / 1 (won); 36.
    # Team = both (as in stage_conversion and stage_dwell).
    assert funnels.team.stages == (
        RepStage(s[1], s[2], 10, 9, approx(0.9), 10, approx(4.5), 9, approx(34.5 / 9)),
        RepStage(s[2], s[3], 9, 6, approx(6 / 9), 11, approx(125 / 11), 7, approx(14)),
        RepStage(s[3], s[4], 5, 3, approx(0.6), 6, approx(153.5 / 6), 5, approx(22.6)),
        RepStage(s[4], None, 2, 1, 0.5, 2, approx(20.75), 1, approx(36)),
    )
    rep1, rep2 = funnels.reps
    assert rep1.owner_id == REP1 and rep1.stages == (
        RepStage(s[1], s[2], 5, 5, 1.0, 5, approx(2.8), 5, approx(2.8)),
        RepStage(s[2], s[3], 6, 5, approx(5 / 6), 8, approx(10.8125), 5, approx(15)),
        RepStage(s[3], s[4], 4, 2, 0.5, 5, approx(28.7), 4, approx(25.75)),
        RepStage(s[4], None, 1, 0, 0.0, 1, approx(5.5), 0, None),
    )
    assert rep2.owner_id == REP2 and rep2.stages == (
        RepStage(s[1], s[2], 5, 4, approx(0.8), 5, approx(6.2), 4, approx(5.125)),
        RepStage(s[2], s[3], 3, 1, approx(1 / 3), 3, approx(38.5 / 3), 2, approx(11.5)),
        RepStage(s[3], s[4], 1, 1, 1.0, 1, approx(10), 1, approx(10)),
        RepStage(s[4], None, 1, 1, 1.0, 1, approx(36), 1, approx(36)),
    )
    # Stall pointers, finished averages rep / team:
    # REP1: S1 2.8 / 3.833 = 0.73, S2 15 / 14 = 1.071, S3 25.75 / 22.6 = 1.139 -> S3.
    # REP2: S1 5.125 / 3.833 = 1.337, S2 11.5 / 14 = 0.82, S3 10 / 22.6 = 0.44, S4 36 / 36 = 1 -> S1.
    assert (rep1.stall_stage_id, rep1.stall_ratio) == (s[3], approx(25.75 / 22.6))
    assert (rep2.stall_stage_id, rep2.stall_ratio) == (s[1], approx(5.125 / (34.5 / 9)))
    assert funnels.team.stall_stage_id is None

    # REP3 alone: J's S1 visit of 0.5 days is still going: no finished data, no pointer.
    alone = Figures(session).rep_funnels(Scope(TEAM, owner_ids=(REP3, "U0NOBODY")), NOW)
    assert alone.team.stages[0] == RepStage(s[1], s[2], 1, 0, 0.0, 1, approx(0.5), 0, None)
    assert [(r.owner_id, r.stall_stage_id, r.stages[0].entered) for r in alone.reps] == [(REP3, None, 1), ("U0NOBODY", None, 0)]
    # The workspace: everyone with visits, by id.
    assert [r.owner_id for r in Figures(session).rep_funnels(WORKSPACE, NOW).reps] == [REP1, REP2, REP3]


# ----- 9 ---------------------------------------------------------------------------------------


def test_expected_closes(session):
    # April 2026: A 04-20 (10000, S4 80% -> 8000), B 04-30 (20000, S2 30% -> 6000), G 04-15 (EUR 50000, S2 -> 15000:
    # no rate, so apart), I 04-01 (no amount). F 05-01 is next month; H 03-31 is past; C is won; J is outside the team.
    assert Figures(session).expected_closes(TEAM_SCOPE, USD, date(2026, 4, 1), date(2026, 5, 1)) == ExpectedCloses(
        4, usd("30000.00", ("EUR", "50000.00")), usd("14000.00", ("EUR", "15000.00")))
    # With EUR at 1.1: 30000 + 55000; weighted 14000 + 16500.
    assert Figures(session).expected_closes(TEAM_SCOPE, USD_AND_EUR, date(2026, 4, 1), date(2026, 5, 1)) == ExpectedCloses(
        4, usd("85000.00", converted=("EUR",)), usd("30500.00", converted=("EUR",)))
    # May: F 12000.25 x 30% = 3600.075 -> 3600.08.
    assert Figures(session).expected_closes(TEAM_SCOPE, USD, date(2026, 5, 1), date(2026, 6, 1)) == ExpectedCloses(
        1, usd("12000.25"), usd("3600.08"))
    # The workspace adds J (04-05, 100000 x 10% = 10000).
    assert Figures(session).expected_closes(WORKSPACE, USD, date(2026, 4, 1), date(2026, 5, 1)) == ExpectedCloses(
        5, usd("130000.00", ("EUR", "50000.00")), usd("24000.00", ("EUR", "15000.00")))


# ----- 10 --------------------------------------------------------------------------------------


def test_overdue_follow_ups_by_rep(session):
    # Pending and due before d100.5 on team deals: REP1 A d98, B d95; U0SE G d97; REP2 F d99 (F d105 is not due,
    # D's is done, H's cancelled). J's (REP3) is outside the team; T0OTHER's never count.
    assert Figures(session).overdue_follow_ups_by_rep(TEAM_SCOPE, NOW) == [
        OverdueFollowUps(REP1, 2, d(95)), OverdueFollowUps(SE, 1, d(97)), OverdueFollowUps(REP2, 1, d(99))]
    assert Figures(session).overdue_follow_ups_by_rep(WORKSPACE, NOW)[1] == OverdueFollowUps(REP3, 1, d(90))
    assert Figures(session).overdue_follow_ups_by_rep(TEAM_SCOPE, d(96)) == [OverdueFollowUps(REP1, 1, d(95))]


def test_open_without_follow_up(session, ids):
    s, o = ids.stage, ids.deal
    # Open team deals A B F G H I L; pending follow-ups on A B F G. H (cancelled only), I and L have none.
    # Longest in stage first: H since d60, I since d90, L since d99.
    result = Figures(session).open_without_follow_up(TEAM_SCOPE, limit=2)
    assert result.total == 3
    assert result.deals == (DealRef(o["H"], 8, "Deal 8", REP1, s[3], d(60)), DealRef(o["I"], 9, "Deal 9", REP2, s[1], d(90)))
    everyone = Figures(session).open_without_follow_up(WORKSPACE)
    assert (everyone.total, [r.number for r in everyone.deals]) == (3, [8, 9, 11])  # J has an (overdue) follow-up
    with pytest.raises(ValueError):
        Figures(session).open_without_follow_up(WORKSPACE, limit=0)


# ----- 11 --------------------------------------------------------------------------------------


def row(key, created, amount, weighted, won, lost, won_amount, rate, cycle):
    return ReportRow(key, created, amount, weighted, won, lost, won_amount, rate, cycle)


def test_report_by_industry(session):
    # Deals created in [d0, d100) in the team: all but J. Weighted = those still open. Closes = final closes in
    # [d0, d100): C won d96 (30000, 56 days), M won d45 (15000, 14.5 days), D lost d97, E lost d98 (won d93, reopened);
    # L's win (d95) was reopened: not a close.
    # Finance    A B G: 10000 + 20000 (+ G EUR 50000 apart); weighted A 8000 + B 6000 (+ G EUR 15000); none closed.
    # (none)     F I:   12000.25; weighted F 3600.075 -> 3600.08; none closed.
    # Healthcare C D:   35000; none open; C won, D lost -> 0.5; cycle 56.
    # Retail     E H:   15000; weighted H 3500; E lost -> 0.0.
    # Technology L M:   19000; weighted L 1200; M won -> 1.0; cycle 14.5.
    assert Figures(session).report(TEAM_SCOPE, "industry", d(0), UNTIL, USD) == [
        row("Finance", 3, usd("30000.00", ("EUR", "50000.00")), usd("14000.00", ("EUR", "15000.00")), 0, 0, usd("0.00"), None, None),
        row("(none)", 2, usd("12000.25"), usd("3600.08"), 0, 0, usd("0.00"), None, None),
        row("Healthcare", 2, usd("35000.00"), usd("0.00"), 1, 1, usd("30000.00"), 0.5, approx(56)),
        row("Retail", 2, usd("15000.00"), usd("3500.00"), 0, 1, usd("0.00"), 0.0, None),
        row("Technology", 2, usd("19000.00"), usd("1200.00"), 1, 0, usd("15000.00"), 1.0, approx(14.5)),
    ]
    # [d90, d100): created G (Finance) and I; closed C (won) and D (lost), Healthcare, created before; E lost, Retail.
    assert [(r.key, r.count, r.won_count, r.lost_count) for r in Figures(session).report(TEAM_SCOPE, "industry", d(90), UNTIL, USD)] == [
        ("(none)", 1, 0, 0), ("Finance", 1, 0, 0), ("Healthcare", 0, 1, 1), ("Retail", 0, 0, 1)]


def test_report_by_month(session):
    # Months of creation for the deals created, of the close for the closes (UTC; on PostgreSQL the session runs at
    # UTC+14, which must not matter):
    # 2026-01: E (d20), M (d30.5 = Jan 31 12:00) created -> 23000, none open; nothing closed in January
    # 2026-02: C (d40), B, H (d50) -> 57000; weighted B 6000 + H 3500; M won d45 (Feb 15) -> 1.0, 15000, cycle 14.5
    # 2026-03: A (d60), L (d70), D (d80), F (d85) -> 31000.25; weighted A 8000 + L 1200 + F 3600.075 = 12800.075
    #          -> 12800.08; nothing closed in March
    # 2026-04: I (d90), G (d94) -> 0 + EUR 50000 (weighted EUR 15000); C won d96, D lost d97, E lost d98 -> 1 of 3,
    #          30000, cycle 56
    assert Figures(session).report(TEAM_SCOPE, "month", d(0), UNTIL, USD) == [
        row("2026-01", 2, usd("23000.00"), usd("0.00"), 0, 0, usd("0.00"), None, None),
        row("2026-02", 3, usd("57000.00"), usd("9500.00"), 1, 0, usd("15000.00"), 1.0, approx(14.5)),
        row("2026-03", 4, usd("31000.25"), usd("12800.08"), 0, 0, usd("0.00"), None, None),
        row("2026-04", 2, usd("0.00", ("EUR", "50000.00")), usd("0.00", ("EUR", "15000.00")), 1, 2, usd("30000.00"), approx(1 / 3), approx(56)),
    ]


def test_report_by_rep_region_size_and_tag(session):
    # REP1: A B E G H L -> 10000 + 20000 + 8000 + 7000 + 4000 = 49000 (+ G EUR 50000); weighted A 8000 + B 6000 + H 3500
    #       + L 1200 = 18700 (+ G EUR 15000); E lost -> 0.0.
    # REP2: C D F I M -> 30000 + 5000 + 12000.25 + 15000 = 62000.25; weighted F 3600.08; C M won (45000), D lost -> 2/3;
    #       cycle (56 + 14.5) / 2 = 35.25.
    assert Figures(session).report(TEAM_SCOPE, "rep", d(0), UNTIL, USD) == [
        row(REP1, 6, usd("49000.00", ("EUR", "50000.00")), usd("18700.00", ("EUR", "15000.00")), 0, 1, usd("0.00"), 0.0, None),
        row(REP2, 5, usd("62000.25"), usd("3600.08"), 2, 1, usd("45000.00"), approx(2 / 3), approx(35.25)),
    ]
    # Regions: (none) D H I L M = 5: 5000 + 7000 + 4000 + 15000 = 31000; weighted H 3500 + L 1200; M won, D lost; cycle 14.5
    #          East A C E G = 4: 48000 (+ G); weighted A 8000 (+ G); C won, E lost; cycle 56
    #          South F; West B.
    assert Figures(session).report(TEAM_SCOPE, "region", d(0), UNTIL, USD) == [
        row("(none)", 5, usd("31000.00"), usd("4700.00"), 1, 1, usd("15000.00"), 0.5, approx(14.5)),
        row("East", 4, usd("48000.00", ("EUR", "50000.00")), usd("8000.00", ("EUR", "15000.00")), 1, 1, usd("30000.00"), 0.5, approx(56)),
        row("South", 1, usd("12000.25"), usd("3600.08"), 0, 0, usd("0.00"), None, None),
        row("West", 1, usd("20000.00"), usd("6000.00"), 0, 0, usd("0.00"), None, None),
    ]
    assert [(r.key, r.count) for r in Figures(session).report(TEAM_SCOPE, "size", d(0), UNTIL, USD)] == [
        ("(none)", 8), ("5000+", 1), ("501-5000", 1), ("51-500", 1)]
    # Tags: every deal once per tag column. found: A foreseen. reach: A C strategic, B tactical.
    tags = {r.key: r for r in Figures(session).report(TEAM_SCOPE, "tag", d(0), UNTIL, USD)}
    assert {k: r.count for k, r in tags.items()} == {
        "found: (none)": 10, "found: foreseen": 1, "reach: (none)": 8, "reach: strategic": 2, "reach: tactical": 1,
        "visibility: (none)": 11, "change_kind: (none)": 11}
    # reach: strategic = A (open, 10000, weighted 8000) + C (won, 30000, 56 days).
    assert tags["reach: strategic"] == row("reach: strategic", 2, usd("40000.00"), usd("8000.00"), 1, 0, usd("30000.00"), 1.0, approx(56))
    with pytest.raises(ValueError):
        Figures(session).report(TEAM_SCOPE, "colour", d(0), UNTIL, USD)


# ----- assignment --------------------------------------------------------------------------------


def test_rep_records_count_the_win_rates_closes_weighted_by_similarity(session):
    # The closes (final, in [d0, d100)): REP1 E lost (Retail, 8000); REP2 C won (Healthcare, 30000, created d40, won d96:
    # 56 days), D lost (Healthcare, 5000), M won (Technology, 15000). L's win was reopened: not a close.
    healthcare = Figures(session).rep_records(TEAM, (REP1, REP2), d(0), UNTIL, Similar(industry="Healthcare"), USD)
    assert sorted(healthcare, key=lambda r: r.owner_id) == [
        RepRecord(REP1, closed=1, won=0, similar_closed=0, similar_won=0, weighted_closed=0.0, weighted_won=0.0, weighted_cycle_days=0.0),
        RepRecord(REP2, closed=3, won=2, similar_closed=2, similar_won=1, weighted_closed=2.0, weighted_won=1.0,
                  weighted_cycle_days=approx(56.0)),  # C 1 x 56 + M 0 x 14.5
    ]
    # The window: only [d93, d100) leaves M out.
    [late] = Figures(session).rep_records(TEAM, (REP2,), SINCE, UNTIL, Similar(), USD)
    assert (late.closed, late.won, late.weighted_closed) == (2, 1, 2.0)


def test_the_amount_band_is_in_the_workspace_currency(session):
    band = Similar(amount_band=(Decimal(25000), Decimal(100000)))
    # A USD workspace: only C (30000) of REP2's closes is in [25000, 100000).
    [rep2] = Figures(session).rep_records(TEAM, (REP2,), d(0), UNTIL, band, USD)
    assert (rep2.similar_closed, rep2.similar_won) == (1, 1)
    # A EUR workspace with USD at 0.9: C is 27000 EUR, in the band; M (13500) and D (4500) are not.
    eur = Rates("EUR", (ExchangeRate("USD", Decimal("0.9"), date(2026, 3, 1)),))
    [rep2] = Figures(session).rep_records(TEAM, (REP2,), d(0), UNTIL, Similar(amount_band=(Decimal(27000), Decimal(100000))), eur)
    assert rep2.similar_closed == 1
    # ...at 0.8 C is 24000 EUR: out of it. Without a USD rate no USD deal is in any EUR band.
    lower = Rates("EUR", (ExchangeRate("USD", Decimal("0.8"), date(2026, 3, 1)),))
    assert Figures(session).rep_records(TEAM, (REP2,), d(0), UNTIL, band, lower)[0].similar_closed == 0
    assert Figures(session).rep_records(TEAM, (REP2,), d(0), UNTIL, band, Rates("EUR"))[0].similar_closed == 0


def test_rep_loads_convert_the_weighted_open_amount(session):
    # REP1 open: A 10000 x 80% + B 20000 x 30% + H 7000 x 50% + L 4000 x 30% = 18700, and G EUR 50000 x 30% = EUR 15000;
    # REP2 open: F 12000.25 x 30% = 3600.075 -> 3600.08, I (no amount). Overdue at d100.5: REP1 A, B; REP2 F.
    assert Figures(session).rep_loads(TEAM, (REP1, REP2), NOW, USD) == [
        RepLoad(REP1, 5, Decimal("18700.00"), 2), RepLoad(REP2, 2, Decimal("3600.08"), 1)]  # G counted, its EUR not summed
    # with EUR at 1.1: 18700 + 16500
    assert Figures(session).rep_loads(TEAM, (REP1,), NOW, USD_AND_EUR) == [RepLoad(REP1, 5, Decimal("35200.00"), 2)]


def test_another_workspace_never_shows(session):
    other = Scope(OTHER)
    # T0OTHER alone: K1 won d96 (999999.99), K2 open in S1 since d10 (90.5 days > 14), follow-ups overdue.
    assert Figures(session).win_rate(other, SINCE, UNTIL, USD).won_amount == usd("999999.99")
    assert [x.number for x in Figures(session).stalled(other, NOW).deals] == [2]
    # ...and none of it in T0TEST's figures: compare with T0TEST deals only (numbers 1..12).
    team = Scope(TEAM)
    assert Figures(session).win_rate(team, SINCE, UNTIL, USD).won_amount == usd("30000.00")
    assert {x.number for x in Figures(session).stalled(team, NOW).deals} == {8}
    assert REP1 not in [r.assignee_id for r in Figures(session).overdue_follow_ups_by_rep(team, d(94))]


# ----- bounded queries -------------------------------------------------------------------------


def bulk_seed(session: Session, team_id: str, deals: int, first_id: int) -> None:
    """`deals` deals with a few stage changes and a follow-up each, inserted in bulk."""
    session.add(Workspace(team_id=team_id, currency="USD", timezone="UTC", created_at=d(0)))
    stages = add_stages(session, team_id)
    opportunities, changes, follow_ups = [], [], []
    for n in range(deals):
        opp_id, owner = first_id + n, f"U0R{n % 7}"
        hops = n % 4  # 0..3 moves forward
        status = (OPEN, WON, LOST)[n % 3]
        created = d(n % 90)
        stage = stages[1 + hops]
        opportunities.append(dict(
            id=opp_id, team_id=team_id, number=n + 1, name=f"Deal {n}", customer="C", amount=Decimal(1000 + n),
            currency="USD" if n % 5 else "EUR", close_date=date(2026, 4, 1 + n % 28), stage_id=stage, status=status,
            owner_id=owner, created_by=owner, created_at=created, updated_at=created, stage_entered_at=created,
            industry=("Finance", "Retail", None)[n % 3], region=("East", None)[n % 2], reach=("strategic", None)[n % 2]))
        changes.append(dict(team_id=team_id, opportunity_id=opp_id, from_stage_id=None, from_status=None,
                            to_stage_id=stages[1], to_status=OPEN, changed_by=owner, owner_id=owner, changed_at=created))
        for hop in range(hops):
            changes.append(dict(team_id=team_id, opportunity_id=opp_id, from_stage_id=stages[1 + hop], from_status=OPEN,
                                to_stage_id=stages[2 + hop], to_status=OPEN, changed_by=owner, owner_id=owner,
                                changed_at=created + timedelta(days=hop + 1)))
        if status != OPEN:
            changes.append(dict(team_id=team_id, opportunity_id=opp_id, from_stage_id=stage, from_status=OPEN,
                                to_stage_id=stage, to_status=status, changed_by=owner, owner_id=owner,
                                changed_at=created + timedelta(days=5)))
        follow_ups.append(dict(team_id=team_id, opportunity_id=opp_id, text="x", due_at=created + timedelta(days=3),
                               assignee_id=owner, status="pending", created_by=owner, created_at=created))
    session.execute(insert(Opportunity), opportunities)
    session.execute(insert(StageChange), changes)
    session.execute(insert(FollowUp), follow_ups)
    visits.derive(session, team_id)
    session.commit()


def run_everything(session: Session, scope: Scope) -> list:
    since, until = d(0), d(120)
    return [
        Figures(session).pipeline_by_stage(scope, USD),
        Figures(session).changes_between(scope, since, until, limit=20),
        Figures(session).win_rate(scope, since, until, USD),
        Figures(session).stage_conversion(scope),
        Figures(session).stage_conversion(scope, since=d(30)),
        Figures(session).stage_dwell(scope, NOW),
        Figures(session).cycle_length(scope, since, until),
        Figures(session).stalled(scope, NOW),
        Figures(session).rep_funnels(scope, NOW),
        Figures(session).expected_closes(scope, USD, date(2026, 4, 1), date(2026, 5, 1)),
        Figures(session).overdue_follow_ups_by_rep(scope, NOW),
        Figures(session).open_without_follow_up(scope),
        *[Figures(session).report(scope, dimension, since, until, USD) for dimension in analytics.DIMENSIONS],
    ]


def test_query_count_does_not_grow_with_the_data(engine):
    with Session(engine) as session:
        bulk_seed(session, "T0SMALL", 200, first_id=1_000)
        bulk_seed(session, "T0LARGE", 2_000, first_id=10_000)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    counts, results = {}, {}
    for team_id, _deals in (("T0SMALL", 200), ("T0LARGE", 2_000)):
        with Session(engine) as session:
            session.connection()  # the BEGIN is not an analytics query
            event.listen(engine, "before_cursor_execute", count)
            try:
                results[team_id] = run_everything(session, Scope(team_id))
            finally:
                event.remove(engine, "before_cursor_execute", count)
        counts[team_id] = len(statements)
        statements.clear()
    # 18 calls: one statement each, two for each of the 6 reports (the deals created, the deals closed); and the stage
    # list (pipeline, conversion ×2, dwell), the medians (stalled)
    assert counts["T0SMALL"] == counts["T0LARGE"] == 30
    assert sum(p.count for p in results["T0SMALL"][0]) == 200 // 3 + 1  # the open ones (n % 3 == 0)
    assert sum(p.count for p in results["T0LARGE"][0]) == 2_000 // 3 + 1


def test_literal_rows_come_back_exactly_as_given(session):
    """A batch's owners and medians go into the SQL as literals: quotes, percent signs, colons and
    backslashes in a value must neither break the statement nor change the value."""
    odd = [(1, "U0ABC", 0.1 + 0.2), (2, "we'ird:na%me\\x%%y :z", 1e-9), (3, "", 12345.678), (4, "a\\:b::c'); DROP TABLE stage; --", -1.5)]
    batch = odd + [(n, f"U{n:07d}", n / 7) for n in range(5, 5 + analytics.LITERAL_ROWS)]  # past LITERAL_ROWS: written as literals
    for rows in (odd, batch):
        given = _rows(session, "given", (("grp", Integer), ("owner_id", String), ("days", Float)), rows)
        assert session.execute(select(given.c.grp, given.c.owner_id, given.c.days).order_by(given.c.grp)).all() == rows
    assert session.execute(select(func.count()).select_from(Stage)).scalar_one() > 0  # still there
