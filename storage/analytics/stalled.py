"""Stalled deals: open deals in their stage longer than its max_days or a multiple of its median visit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    and_,
    case,
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
    Scope,
    StageDwell,
    Stalled,
    StalledDeal,
)
from storage.models import Opportunity, Stage

MIN_VISITS_FOR_MEDIAN = 5  # `stalled` only trusts a stage's median with at least this many visits


class StalledFigures:
    """Stage medians and stalled deals."""

    session: Session

    # ----- 7. stalled deals ----------------------------------------------------------------------

    def stage_medians(self, scope: Scope, now: datetime) -> dict[int, tuple[int, float | None]]:
        """{stage_id: (visits, median days)} of the scope's stage visits, finished and ongoing (until `now`):
        what `stalled` compares against. It reads the scope's whole stage history, O(history), so a caller
        that asks often (the App Home) computes it once in a while and hands it to `stalled`.
        """
        return self.stage_medians_each([scope], now)[0]

    def stage_medians_each(self, scopes: Sequence[Scope], now: datetime) -> list[dict[int, tuple[int, float | None]]]:
        group = _Scopes(self.session, scopes)
        stats = _days_stats(self.session, _visits(self.session, group, now))
        result: list[dict[int, tuple[int, float | None]]] = [{} for _ in scopes]
        for r in group.execute(select(stats.c.grp, stats.c.stage_id, stats.c.visits, stats.c.median_days)):
            result[r.grp][r.stage_id] = (r.visits, _float(r.median_days))
        return result

    def stalled(self, scope: Scope, now: datetime, multiplier: float = 2, limit: int = 10, *,
                medians: dict[int, tuple[int, float | None]] | None = None, max_days: dict[int, int] | None = None) -> Stalled:
        """Open deals sitting in their stage too long: longer than the stage's max_days ("max_days"),
        or longer than `multiplier` × the median visit of that stage in this scope, finished and
        ongoing visits alike, when the stage has at least MIN_VISITS_FOR_MEDIAN visits ("median").

        The longest first; `total` counts them all, `deals` holds the first `limit` (at least 1).
        The medians are `stage_medians` (one pass over the scope's stage history) unless given.

        Given `medians` and every stage's `max_days`, the stage table is not joined either: each
        stage's limit becomes one range on ix_opportunity_owner_open's stage_entered_at.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if medians is not None and max_days is not None:
            return _stalled_by_limits(self.session, scope, now, multiplier, limit, medians, max_days)
        return self.stalled_each([scope], now, multiplier, limit, medians=None if medians is None else [medians])[0]

    def stalled_each(self, scopes: Sequence[Scope], now: datetime, multiplier: float = 2, limit: int = 10, *,
                     medians: Sequence[dict[int, tuple[int, float | None]]] | None = None) -> list[Stalled]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        group = _Scopes(self.session, scopes)
        if medians is None:
            medians = self.stage_medians_each(scopes, now)
        # The medians that count (enough visits) as (grp, stage_id, median) rows (`_rows`), read back as
        # the same doubles the database computed (a float's repr round-trips).
        trusted = [(grp, stage_id, float(median)) for grp, stages in enumerate(medians) for stage_id, (visits, median) in stages.items()
                   if visits >= MIN_VISITS_FOR_MEDIAN and median is not None] or [(-1, -1, 0.0)]
        limits = _rows(self.session, "medians", (("grp", Integer), ("stage_id", Integer), ("median_days", Float)), trusted)
        members = group.members()
        days_in_stage = _days_between(self.session, Opportunity.stage_entered_at, _at(now))
        over_max = days_in_stage > Stage.max_days
        over_median = days_in_stage > limits.c.median_days * literal(float(multiplier), Float)
        ranked = (
            select(
                members.c.grp, Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
                days_in_stage.label("days_in_stage"),
                case((over_max, "max_days"), else_="median").label("reason"),
                Stage.max_days,
                func.row_number().over(partition_by=members.c.grp, order_by=(days_in_stage.desc(), Opportunity.number)).label("place"),
                func.count().over(partition_by=members.c.grp).label("total"),
            )
            .select_from(Opportunity)
            .join(members, group.on(members, Opportunity.owner_id))
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            .outerjoin(limits, and_(limits.c.grp == members.c.grp, limits.c.stage_id == Opportunity.stage_id))
            .where(*group.deal_filters(), Opportunity.status == OPEN, or_(over_max, over_median))
            .subquery()
        )
        found: list[list[Any]] = [[] for _ in scopes]
        for r in group.execute(select(ranked).where(ranked.c.place <= limit).order_by(ranked.c.grp, ranked.c.place)):
            found[r.grp].append(r)
        result = []
        for grp, rows in enumerate(found):
            deals = []
            for r in rows:
                visits, median = medians[grp].get(r.stage_id, (0, None))
                deals.append(StalledDeal(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id, stage_id=r.stage_id,
                                         days_in_stage=float(r.days_in_stage), reason=r.reason, max_days=r.max_days,
                                         median_days=median if visits >= MIN_VISITS_FOR_MEDIAN else None))
            result.append(Stalled(total=rows[0].total if rows else 0, deals=tuple(deals)))
        return result


def medians_of(dwell: Sequence[StageDwell]) -> dict[int, tuple[int, float | None]]:
    """`stage_medians` read off `stage_dwell` of the same scope and `now` (the same visits)."""
    return {s.stage_id: (s.visits, s.median_days) for s in dwell if s.visits}


def _stalled_by_limits(session: Session, scope: Scope, now: datetime, multiplier: float, limit: int,
                       medians: dict[int, tuple[int, float | None]], max_days: dict[int, int]) -> Stalled:
    limits: dict[int, tuple[int, float | None]] = {}
    ranges = []
    for stage_id, stage_max in max_days.items():
        visits, median = medians.get(stage_id, (0, None))
        median = median if visits >= MIN_VISITS_FOR_MEDIAN and median is not None else None
        limits[stage_id] = (stage_max, median)
        days = float(stage_max) if median is None else min(float(stage_max), median * multiplier)
        ranges.append(and_(Opportunity.stage_id == stage_id, Opportunity.stage_entered_at < _at(now - timedelta(days=days))))
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
    deals = []
    for r in rows:
        stage_max, median = limits[r.stage_id]
        days = float(r.days_in_stage)
        deals.append(StalledDeal(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id, stage_id=r.stage_id,
                                 days_in_stage=days, reason="max_days" if days > stage_max else "median", max_days=stage_max,
                                 median_days=median))
    return Stalled(total=rows[0].total if rows else 0, deals=tuple(deals))
