"""Stalled deals: open deals in their stage longer than its max_days, or than a multiple of the team's typical time there.

The rule is here and nowhere else (the digest, the App Home and the stalled-deal DM all use it):

- Time in the stage is counted in whole days (a deal 23 hours in its stage has been there 0 days).
- A deal is stalled when those whole days *exceed* (are strictly greater than) the stage's `max_days`
  (rule "max_days": exactly 14 days with max_days 14 is not stalled, 15 days is), or exceed
  STALLED_MULTIPLIER × the team's typical time in the stage (rule "norm"). The typical time is the
  median of the team's *completed* visits of the stage, and counts only when it comes from at least
  MIN_COMPLETED_VISITS of them and is at least MIN_TYPICAL_DAYS (one day).
- A deal less than a day in its stage is never stalled. When both rules apply, "max_days" is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    func,
    literal,
    or_,
    select,
)
from sqlmodel import Session

from bot.domain.values import OPEN
from storage.analytics._sql import (
    _at,
    _days_between,
    _days_stats,
    _deal_filters,
    _float,
    _rows,
    _Scopes,
    _visits,
)
from storage.analytics.values import (
    STALLED_BY_MAX_DAYS,
    STALLED_BY_NORM,
    Scope,
    StageDwell,
    Stalled,
    StalledDeal,
)
from storage.models import Opportunity, SalesTeamMember, Stage

STALLED_MULTIPLIER = 2  # the norm rule: stalled after this many times the team's typical time in the stage
MIN_COMPLETED_VISITS = 10  # the team's typical time in a stage counts from this many completed visits of it
MIN_TYPICAL_DAYS = 1.0  # ...and when it is at least a day

Norms = dict[int, tuple[int, float | None]]  # {stage_id: (completed visits, their median days)}


# ----- the rule (pure) ---------------------------------------------------------------------------


def whole_days(days: float) -> int:
    """Days in a stage as people count them: whole days elapsed (0 for less than a day)."""
    return max(0, math.floor(days))


def typical_days(norm: tuple[int, float | None] | None) -> float | None:
    """The team's typical time in a stage, when it may be used: the median of at least
    MIN_COMPLETED_VISITS completed visits, and at least MIN_TYPICAL_DAYS. Else None."""
    if norm is None:
        return None
    visits, median = norm
    if visits < MIN_COMPLETED_VISITS or median is None or median < MIN_TYPICAL_DAYS:
        return None
    return float(median)


def stalled_after(max_days: int, norm: tuple[int, float | None] | None = None, multiplier: float = STALLED_MULTIPLIER) -> int:
    """The fewest whole days in the stage at which a deal is stalled (whole days > a threshold ⇔ ≥ this)."""
    first = int(max_days) + 1
    typical = typical_days(norm)
    if typical is not None:
        first = min(first, math.floor(multiplier * typical) + 1)
    return max(first, 1)


def stalled_since(entered_at: datetime, max_days: int) -> datetime:
    """When a deal that entered its stage at `entered_at` becomes stalled by the max_days rule."""
    return entered_at + timedelta(days=stalled_after(max_days))


def judge(*, opportunity_id: int, number: int, name: str, owner_id: str, stage_id: int, days_in_stage: float, max_days: int,
          norm: tuple[int, float | None] | None = None, multiplier: float = STALLED_MULTIPLIER) -> StalledDeal | None:
    """The deal as a StalledDeal (which rule flagged it, and its threshold), or None when it is not stalled.
    `norm` is the team's (completed visits, median days) of the stage, or None for the max_days rule alone."""
    days = whole_days(days_in_stage)
    if days < 1:
        return None
    typical = typical_days(norm)
    visits = norm[0] if norm is not None and typical is not None else 0
    if days > max_days:
        rule, threshold = STALLED_BY_MAX_DAYS, float(max_days)
    elif typical is not None and days > multiplier * typical:
        rule, threshold = STALLED_BY_NORM, multiplier * typical
    else:
        return None
    return StalledDeal(opportunity_id=opportunity_id, number=number, name=name, owner_id=owner_id, stage_id=stage_id,
                       days_in_stage=days, rule=rule, threshold_days=threshold, max_days=int(max_days),
                       typical_days=typical, typical_visits=visits)


# ----- the figures -------------------------------------------------------------------------------


class StalledFigures:
    """The team's typical times in its stages, and stalled deals."""

    session: Session

    # ----- 7. stalled deals ----------------------------------------------------------------------

    def stage_medians(self, scope: Scope, now: datetime) -> Norms:
        """{stage_id: (completed visits, their median days)} of the scope's stage visits: the norms
        `stalled` compares against (see `typical_days`). It reads the scope's whole stage history,
        O(history), so a caller that asks often (the App Home) computes it once in a while and hands it to `stalled`.
        """
        return self.stage_medians_each([scope], now)[0]

    def stage_medians_each(self, scopes: Sequence[Scope], now: datetime) -> list[Norms]:
        group = _Scopes(self.session, scopes)
        stats = _days_stats(self.session, _visits(self.session, group, now))
        result: list[Norms] = [{} for _ in scopes]
        for r in group.execute(select(stats.c.grp, stats.c.stage_id, stats.c.finished_visits, stats.c.finished_median_days)):
            if r.finished_visits:
                result[r.grp][r.stage_id] = (r.finished_visits, _float(r.finished_median_days))
        return result

    def norm_scope(self, team_id: str, user_id: str, managed: frozenset[str] = frozenset()) -> Scope:
        """Whose completed visits make "the team's typical time" for a rep's own deals: the reps of every
        sales team the rep is on (the rep included); for someone on no team, the reps they manage, else
        their own deals. Never the whole workspace: its medians would be one pass over every stage
        change on each cold App Home (1.3 s at 10^5 deals on SQLite)."""
        teams = select(SalesTeamMember.sales_team_id).where(SalesTeamMember.team_id == team_id, SalesTeamMember.user_id == user_id)
        mates = set(self.session.execute(
            select(SalesTeamMember.user_id).where(SalesTeamMember.team_id == team_id, SalesTeamMember.sales_team_id.in_(teams))).scalars())
        return Scope(team_id, owner_ids=tuple(sorted(mates or managed or {user_id})))

    def stalled(self, scope: Scope, now: datetime, multiplier: float = STALLED_MULTIPLIER, limit: int = 10, *,
                medians: Norms | None = None, max_days: dict[int, int] | None = None) -> Stalled:
        """The scope's open deals that are stalled (see the module's rule), the longest in their stage first;
        `total` counts them all, `deals` holds the first `limit` (at least 1). The norms are
        `stage_medians` of the scope (one pass over its stage history) unless given (`medians`: e.g. the
        team's, for one rep's deals).

        Given `medians` and every stage's `max_days`, the stage table is not joined either: each
        stage's limit becomes one range on ix_opportunity_owner_open's stage_entered_at.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if medians is not None and max_days is not None:
            return _stalled_by_limits(self.session, scope, now, multiplier, limit, medians, max_days)
        return self.stalled_each([scope], now, multiplier, limit, medians=None if medians is None else [medians])[0]

    def stalled_each(self, scopes: Sequence[Scope], now: datetime, multiplier: float = STALLED_MULTIPLIER, limit: int = 10, *,
                     medians: Sequence[Norms] | None = None) -> list[Stalled]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        group = _Scopes(self.session, scopes)
        if medians is None:
            medians = self.stage_medians_each(scopes, now)
        # The norms that count, as (grp, stage_id, fewest whole days stalled by the norm) rows (`_rows`).
        usable = [(grp, stage_id, math.floor(multiplier * typical) + 1) for grp, stages in enumerate(medians) for stage_id, norm in stages.items()
                  if (typical := typical_days(norm)) is not None] or [(-1, -1, 0)]
        limits = _rows(self.session, "norms", (("grp", Integer), ("stage_id", Integer), ("stalled_from", Integer)), usable)
        members = group.members()
        days_in_stage = _days_between(self.session, Opportunity.stage_entered_at, _at(now))
        # whole days > max_days ⇔ days ≥ max_days + 1; never under one day
        stalled = and_(days_in_stage >= literal(1, Integer),
                       or_(days_in_stage >= Stage.max_days + 1, days_in_stage >= limits.c.stalled_from))
        ranked = (
            select(
                members.c.grp, Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
                days_in_stage.label("days_in_stage"),
                Stage.max_days,
                func.row_number().over(partition_by=members.c.grp, order_by=(days_in_stage.desc(), Opportunity.number)).label("place"),
                func.count().over(partition_by=members.c.grp).label("total"),
            )
            .select_from(Opportunity)
            .join(members, group.on(members, Opportunity.owner_id))
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            .outerjoin(limits, and_(limits.c.grp == members.c.grp, limits.c.stage_id == Opportunity.stage_id))
            .where(*group.deal_filters(), Opportunity.status == OPEN, stalled)
            .subquery()
        )
        found: list[list[Any]] = [[] for _ in scopes]
        for r in group.execute(select(ranked).where(ranked.c.place <= limit).order_by(ranked.c.grp, ranked.c.place)):
            found[r.grp].append(r)
        return [_stalled(rows, lambda r, grp=grp: (r.max_days, medians[grp].get(r.stage_id)), multiplier) for grp, rows in enumerate(found)]


def medians_of(dwell: Sequence[StageDwell]) -> Norms:
    """`stage_medians` read off `stage_dwell` of the same scope and `now` (the same visits)."""
    return {s.stage_id: (s.finished_visits, s.finished_median_days) for s in dwell if s.finished_visits}


def _stalled(rows: Sequence[Any], limits: Any, multiplier: float) -> Stalled:
    deals = []
    for r in rows:
        stage_max, norm = limits(r)
        deal = judge(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id, stage_id=r.stage_id,
                     days_in_stage=float(r.days_in_stage), max_days=stage_max, norm=norm, multiplier=multiplier)
        if deal is not None:  # the SQL's condition is the rule's: always
            deals.append(deal)
    return Stalled(total=rows[0].total if rows else 0, deals=tuple(deals))


def _stalled_by_limits(session: Session, scope: Scope, now: datetime, multiplier: float, limit: int,
                       medians: Norms, max_days: dict[int, int]) -> Stalled:
    ranges = [and_(Opportunity.stage_id == stage_id,
                   Opportunity.stage_entered_at <= _at(now - timedelta(days=stalled_after(stage_max, medians.get(stage_id), multiplier))))
              for stage_id, stage_max in max_days.items()]
    if not ranges:
        return Stalled(total=0, deals=())
    days_in_stage = _days_between(session, Opportunity.stage_entered_at, _at(now))
    rows = session.execute(
        select(Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
               days_in_stage.label("days_in_stage"), func.count().over().label("total"))
        .where(*_deal_filters(scope), Opportunity.status == OPEN, or_(*ranges))
        .order_by(Opportunity.stage_entered_at, Opportunity.number)  # = days in stage, longest first
        .limit(limit)
    ).all()
    return _stalled(rows, lambda r: (max_days[r.stage_id], medians.get(r.stage_id)), multiplier)
