"""Stalled means stalled (storage/analytics/stalled.py): the one rule behind the digest, the App Home and the
stalled-deal DM, on SQLite and PostgreSQL, with hand-computed expectations.

The rule: whole days in the current stage *strictly greater* than the stage's max_days ("max_days"), or than
2 × the team's typical time there ("norm"): the median of the team's completed visits of the stage, used only
from 10 of them and when it is at least a day. Less than a day in a stage is never stalled; max_days wins.

The default stages (no stage file): Prospect max_days 14, Solution design 21, Technical evaluation 30,
Negotiation 21. The team "East" is U0REP1 and U0REP2, managed by U0MGR. Deals are made and moved through
the services while a fake clock moves, so the stage history is the one the app writes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.deals.views import EN, stalled_why
from bot.domain.clock import FakeClock
from bot.domain.values import Pipeline, StageInfo
from bot.domain.words import count
from bot.workspace.config import parse_config
from storage import analytics
from storage.analytics import STALLED_BY_MAX_DAYS, STALLED_BY_NORM, Scope, StalledDeal, judge
from storage.analytics.stalled import MIN_COMPLETED_VISITS, stalled_after
from storage.db import UnitOfWork
from tests.conftest import START
from tests.support import TEST_CONFIG, context, create, make_services

WORKSPACE = "T0TEST"
EAST = Scope(WORKSPACE, owner_ids=("U0REP1", "U0REP2"))
DAY = timedelta(days=1)


@pytest.fixture
def app(engine):
    clock = FakeClock(START)
    services, _ = make_services(engine, clock)
    return services, clock, engine


def stage_ids(services) -> list[int]:
    return [s.id for s in services.workspaces.pipelines(WORKSPACE).default.stages]


def stalled(engine, now, scope=EAST, **kwargs):
    """The stalled deals of `scope` both ways storage computes them: from the visits (the digest's way) and from
    given norms and max_days (the App Home's way); the two must agree."""
    with UnitOfWork(engine) as uow:
        figures = uow.figures
        every = figures.stalled(scope, now, **kwargs)
        stages = uow.workspaces.pipelines(WORKSPACE).default
        max_days = {s.id: s.max_days for s in stages.stages}
        given = figures.stalled(scope, now, medians=figures.stage_medians(scope, now), max_days=max_days, **kwargs)
    assert given == every
    return every


def completed_visits(services, clock, n: int, days: float, *, stage: int = 0, owner: str = "U0REP1") -> list:
    """n deals that enter `stage` now and, `days` later, move on to the next stage: n completed visits of `days`."""
    ids = stage_ids(services)
    deals = [create(services, owner, name=f"Done {i}", stage=stage) for i in range(n)]
    clock.advance(days=days)
    manager = context(services, "U0MGR")
    for deal in deals:
        services.deals.move(manager, opp_id=deal.id, stage_id=ids[stage + 1])
    return deals


# ----- the rule, pure ------------------------------------------------------------------------------


def verdict(days: float, max_days: int = 14, norm=None, multiplier: float = 2):
    deal = judge(opportunity_id=1, number=1, name="X", owner_id="U0REP1", stage_id=1, days_in_stage=days, max_days=max_days,
                 norm=norm, multiplier=multiplier)
    return None if deal is None else (deal.rule, deal.days_in_stage, deal.threshold_days)


def test_the_rule_on_whole_days():
    # "exceeds" is strictly greater, on whole days: 14 days (even 14 d 23 h) with max_days 14 is not stalled, 15 is
    assert verdict(14) is None and verdict(14.99) is None
    assert verdict(15) == (STALLED_BY_MAX_DAYS, 15, 14.0)
    # never under a day, whatever the thresholds
    assert verdict(0.99, max_days=0) is None and verdict(0.99, norm=(50, 1.0), multiplier=0.1) is None
    assert verdict(1.0, max_days=0) == (STALLED_BY_MAX_DAYS, 1, 0.0)
    # the norm: 2 × 3 days = 6; from 10 completed visits, not 9; a typical time under a day is never used
    assert verdict(7, norm=(MIN_COMPLETED_VISITS, 3.0)) == (STALLED_BY_NORM, 7, 6.0)
    assert verdict(6.9, norm=(10, 3.0)) is None  # 6 whole days: not over 6
    assert verdict(7, norm=(9, 3.0)) is None
    assert verdict(13, norm=(100, 0.99)) is None
    assert verdict(3, norm=(10, 1.0)) == (STALLED_BY_NORM, 3, 2.0)
    # both apply: max_days is reported
    assert verdict(20, norm=(10, 3.0)) == (STALLED_BY_MAX_DAYS, 20, 14.0)
    # the first stalled whole day, as the SQL and the DM's due time use it
    assert (stalled_after(14), stalled_after(14, (10, 3.0)), stalled_after(14, (9, 3.0)), stalled_after(14, (10, 2.6))) == (15, 7, 15, 6)
    assert stalled_after(0) == 1 and stalled_after(14, (10, 3.0), multiplier=0.1) == 1


def test_the_words_for_each_rule():
    stages = Pipeline((StageInfo(id=1, name="Prospect", position=0, probability=10, max_days=14),
                         StageInfo(id=4, name="Negotiation", position=3, probability=80, max_days=14)))

    def deal(**fields) -> StalledDeal:
        base = dict(opportunity_id=1, number=4, name="X", owner_id="U0REP1", stage_id=4, days_in_stage=21, rule=STALLED_BY_MAX_DAYS,
                    threshold_days=14.0, max_days=14, typical_days=None, typical_visits=0)
        return StalledDeal(**(base | fields))

    assert stalled_why(deal(), stages, t=EN) == "21 days in Negotiation; stalled after 14"
    assert stalled_why(deal(stage_id=1, days_in_stage=9, rule=STALLED_BY_NORM, threshold_days=6.0, typical_days=3.0, typical_visits=14),
                       stages, t=EN) == "9 days in Prospect; the team's typical time there is 3 days (from 14 deals)"
    assert stalled_why(deal(stage_id=1, days_in_stage=3, rule=STALLED_BY_NORM, threshold_days=2.0, typical_days=1.2, typical_visits=10),
                       stages, t=EN) == "3 days in Prospect; the team's typical time there is 1 day (from 10 deals)"
    assert stalled_why(deal(days_in_stage=1, max_days=0, threshold_days=0.0), stages, t=EN) == "1 day in Negotiation; stalled after 0"
    assert [count(n, "day", "days") for n in (1, 2, 21)] == ["1 day", "2 days", "21 days"]


# ----- the figures, on both databases --------------------------------------------------------------


def test_a_deal_0_days_in_its_stage_is_never_stalled(app):
    """The report: "OPP-4 … 0 d in Prospect, over 2× the team's median (0.0 d)"."""
    services, clock, engine = app
    completed_visits(services, clock, 12, days=0.01)  # 12 visits of Prospect, 14 minutes each: a typical time of 0 days
    fresh = create(services, "U0REP1", name="Fresh")
    clock.advance(hours=20)
    assert stalled(engine, clock.now()).total == 0
    # with a typical time of a day or more, not even a tiny multiplier flags a deal under a day
    completed_visits(services, clock, 12, days=3)
    now = clock.now()  # Fresh: 3 d 20 h in Prospect; the 12 deals made 3 days ago have moved on
    with UnitOfWork(engine) as uow:
        norms = uow.figures.stage_medians(EAST, now)
    assert norms[stage_ids(services)[0]] == (24, pytest.approx(1.505))  # median of 12 × 0.01 and 12 × 3
    late = create(services, "U0REP2", name="Late")
    clock.advance(hours=23)
    found = stalled(engine, clock.now(), multiplier=0.1)  # norm threshold 0.1505 days: stalled from 1 whole day
    assert [(d.opportunity_id, d.days_in_stage, d.rule) for d in found.deals] == [(fresh.id, 4, STALLED_BY_NORM)]
    assert late.id not in {d.opportunity_id for d in found.deals}  # 23 hours


def test_max_days_boundary(app):
    services, clock, engine = app
    deal = create(services, "U0REP1", name="Slow")
    clock.advance(days=14, hours=23, minutes=59)  # 14 whole days = Prospect's max_days: not over it
    assert stalled(engine, clock.now()).total == 0
    clock.advance(minutes=1)  # exactly 15 days
    found = stalled(engine, clock.now())
    assert found.total == 1
    assert found.deals == (StalledDeal(deal.id, deal.number, "Slow", "U0REP1", stage_ids(services)[0], 15, STALLED_BY_MAX_DAYS, 14.0, 14,
                                       None, 0),)


def test_the_norm_needs_10_completed_visits(app):
    services, clock, engine = app
    prospect = stage_ids(services)[0]
    watched = create(services, "U0REP2", name="Watched")
    ten = [create(services, "U0REP1", name=f"Done {i}") for i in range(10)]
    clock.advance(days=3)
    manager = context(services, "U0MGR")
    for done in ten[:9]:
        services.deals.move(manager, opp_id=done.id, stage_id=stage_ids(services)[1])
    clock.advance(days=6)
    # day 9: Watched and ten[9] 9 days in Prospect (< 14); 9 completed visits of 3 days: no norm yet
    with UnitOfWork(engine) as uow:
        assert uow.figures.stage_medians(EAST, clock.now())[prospect] == (9, pytest.approx(3))
    assert stalled(engine, clock.now()).total == 0
    services.deals.move(manager, opp_id=ten[9].id, stage_id=stage_ids(services)[1])
    # 10 completed visits: 9 × 3 days and 1 × 9 days, median 3; Watched's 9 days > 2 × 3
    found = stalled(engine, clock.now())
    assert found.deals == (StalledDeal(watched.id, watched.number, "Watched", "U0REP2", prospect, 9, STALLED_BY_NORM, pytest.approx(6.0), 14,
                                       pytest.approx(3.0), 10),)
    # the norm is the scope's: U0REP2's own visits are none
    assert stalled(engine, clock.now(), scope=Scope(WORKSPACE, owner_ids=("U0REP2",))).total == 0


def test_a_typical_time_under_a_day_is_never_used(app):
    services, clock, engine = app
    watched = create(services, "U0REP2", name="Watched")
    completed_visits(services, clock, 10, days=0.5)  # typical 12 hours: 2 × that is one day
    clock.advance(days=1, hours=12)  # Watched: 2 whole days, over 2 × 0.5 days if the typical time counted
    assert stalled(engine, clock.now()).total == 0
    completed_visits(services, clock, 11, days=1)  # now 21 visits: 10 × 0.5, 11 × 1: median 1 day, used
    # Watched: 3 whole days > 2 × 1
    found = stalled(engine, clock.now())
    assert [(d.opportunity_id, d.rule, d.typical_days, d.typical_visits) for d in found.deals] == [
        (watched.id, STALLED_BY_NORM, pytest.approx(1.0), 21)]


# ----- every surface: the same deals, the same words -----------------------------------------------

@pytest.fixture
def config():
    """The test workspace, with a channel for East's digest."""
    return parse_config(TEST_CONFIG.replace('members = ["U0REP1", "U0REP2"]', 'members = ["U0REP1", "U0REP2"]\nchannel = "C0EAST"'), "stalled.toml")


def stalled_section(text: str, title: str) -> list[str]:
    """The bullet lines under a "*title…*" heading of a section's text."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"*{title}"))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("• "):
            break
        out.append(line)
    return out


def section_with(blocks: list[dict], title: str) -> str:
    return next(b["text"]["text"] for b in blocks if b.get("type") == "section" and f"*{title}" in b.get("text", {}).get("text", ""))


def test_the_digest_and_the_app_home_show_the_same_stalled_deals_in_the_same_words(slack):
    services, clock = slack.oppbot.services, slack.clock
    ids = stage_ids(services)
    manager = context(services, "U0MGR")
    old = create(services, "U0REP1", name="Old")        # will be 16 days in Prospect: max_days
    clock.advance(days=7)
    watched = create(services, "U0REP2", name="Watched")  # will be 9 days in Prospect: the norm
    done = [create(services, "U0REP1", name=f"Done {i}") for i in range(14)]
    clock.advance(days=3)
    for deal in done:
        services.deals.move(manager, opp_id=deal.id, stage_id=ids[1])  # 14 completed visits of 3 days
    clock.advance(days=6)
    create(services, "U0REP1", name="Brand new")          # 0 days: never stalled
    clock.advance(hours=2)
    expected = [f"• *OPP-{old.number}* Old (<@U0REP1>) · 16 days in Prospect; stalled after 14",
                f"• *OPP-{watched.number}* Watched (<@U0REP2>) · 9 days in Prospect; the team's typical time there is 3 days (from 14 deals)"]

    assert services.digests.plan_now("East") == 1
    for _ in range(3):
        slack.oppbot.dispatcher.run_once()
    [digest] = [c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "C0EAST" and "pipeline digest" in c.params.get("text", "")]
    assert stalled_section(section_with(digest.params["blocks"], "Stalled ("), "Stalled (") == expected

    slack.event({"type": "app_home_opened", "user": "U0MGR", "tab": "home"})
    home = slack.fake.home_view("U0MGR")["blocks"]
    assert stalled_section(section_with(home, "Team's stalled deals ("), "Team's stalled deals (") == expected
    # a rep's own list measures against the same team's typical times
    slack.event({"type": "app_home_opened", "user": "U0REP2", "tab": "home"})
    mine = slack.fake.home_view("U0REP2")["blocks"]
    assert stalled_section(section_with(mine, "Your stalled deals ("), "Your stalled deals (") == [
        f"• *OPP-{watched.number}* Watched · 9 days in Prospect; the team's typical time there is 3 days (from 14 deals)"]
    # the DM is the max_days rule's, in its words, once the deal is over max_days (Old: 16 days)
    clock.advance(minutes=1)  # the DM channel's pace
    slack.oppbot.dispatcher.run_once()
    dms = [c.params["text"] for c in slack.fake.calls("chat.postMessage") if "has stalled" in c.params.get("text", "")]
    assert dms == [f"OPP-{old.number} Old has stalled: 16 days in Prospect; stalled after 14"]


def test_analytics_exports_the_rule():
    assert analytics.MIN_COMPLETED_VISITS == 10 and analytics.STALLED_MULTIPLIER == 2


def test_whose_visits_make_the_typical_time_of_a_persons_own_deals(app):
    """A rep on a team: the team's reps. A manager on no team: the reps they manage. Anyone else: their own deals.
    Never the whole workspace (one pass over every stage change on each cold App Home)."""
    services, _, engine = app
    context(services, "U0REP1")  # seeds the workspace and its teams
    with UnitOfWork(engine) as uow:
        assert uow.figures.norm_scope(WORKSPACE, "U0REP1") == EAST
        assert uow.figures.norm_scope(WORKSPACE, "U0MGR", frozenset({"U0REP2", "U0REP1"})) == EAST
        assert uow.figures.norm_scope(WORKSPACE, "U0OTHER") == Scope(WORKSPACE, owner_ids=("U0OTHER",))
