"""Breakdowns (`/opp report by …`): a cohort of deals grouped by one dimension."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlmodel import Session

from bot.domain.values import LOST, OPEN, WON
from storage.analytics._sql import (
    _cents,
    _days_between,
    _deal_filters,
    _float,
    _in_currency,
    _money,
    _month_of,
    _other_currency,
    _ratio,
    _weighted_money,
)
from storage.analytics.values import (
    ReportRow,
    Scope,
)
from storage.models import Opportunity, Stage, StageChange

NONE_LABEL = "(none)"
TAG_COLUMNS = ("found", "reach", "visibility", "change_kind")
DIMENSIONS = ("industry", "region", "size", "tag", "month", "rep")


class ReportFigures:
    """Breakdowns by dimension."""

    session: Session

    # ----- 11. breakdowns ------------------------------------------------------------------------

    def report(self, scope: Scope, dimension: str, since: datetime, until: datetime, currency: str) -> list[ReportRow]:
        """Deals created in [since, until), grouped by `dimension`, and what became of them so far.

        dimension: industry | region | size | month (UTC month of creation) | rep (current owner) |
        tag (each deal in one group per tag column, e.g. "reach: strategic"). A missing value is
        grouped as "(none)". Per group: deals, their amount in `currency`, the weighted amount of
        those still open, won and lost counts and the win rate among the closed, the average days
        from creation to the win of the won ones.
        Groups by size, largest first (month: chronological).
        """
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")
        won_at = (
            select(StageChange.opportunity_id, func.max(StageChange.changed_at).label("won_at"))
            .where(StageChange.team_id == scope.team_id, StageChange.to_status == WON)
            .group_by(StageChange.opportunity_id)
            .subquery()
        )
        in_currency = _in_currency(currency)
        cohort = (
            select(
                Opportunity.id, Opportunity.owner_id, Opportunity.industry, Opportunity.region, Opportunity.company_size,
                Opportunity.found, Opportunity.reach, Opportunity.visibility, Opportunity.change_kind,
                Opportunity.created_at, Opportunity.status,
                case((in_currency, _cents(Opportunity.amount))).label("cents"),
                case((_other_currency(currency), 1)).label("other_currency"),
                case((and_(in_currency, Opportunity.status == OPEN), _cents(Opportunity.amount) * Stage.probability))
                .label("open_cent_percent"),
                case((Opportunity.status == WON, _days_between(self.session, Opportunity.created_at, won_at.c.won_at)))
                .label("cycle_days"),
            )
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            .outerjoin(won_at, won_at.c.opportunity_id == Opportunity.id)
            .where(*_deal_filters(scope), Opportunity.created_at >= since, Opportunity.created_at < until)
            .cte("cohort")
        )

        def named(column: Any) -> Any:
            return func.coalesce(column, NONE_LABEL)

        if dimension == "tag":
            keys = [literal(f"{tag}: ", String) + named(cohort.c[tag]) for tag in TAG_COLUMNS]
        else:
            keys = [{
                "industry": named(cohort.c.industry),
                "region": named(cohort.c.region),
                "size": named(cohort.c.company_size),
                "month": _month_of(self.session, cohort.c.created_at),
                "rep": cohort.c.owner_id,
            }[dimension]]
        keyed = union_all(*[select(cohort, key.label("key")) for key in keys]).subquery()
        rows = self.session.execute(
            select(
                keyed.c.key,
                func.count().label("deals"),
                func.sum(keyed.c.cents).label("cents"),
                func.count(keyed.c.other_currency).label("other_currency"),
                func.sum(keyed.c.open_cent_percent).label("open_cent_percent"),
                func.count(case((keyed.c.status == WON, 1))).label("won"),
                func.count(case((keyed.c.status == LOST, 1))).label("lost"),
                func.avg(keyed.c.cycle_days).label("avg_cycle_days"),
            )
            .group_by(keyed.c.key)
        ).all()
        result = [
            ReportRow(key=r.key, count=r.deals, amount=_money(r.cents), other_currency=r.other_currency,
                      weighted_open_amount=_weighted_money(r.open_cent_percent), won_count=r.won, lost_count=r.lost,
                      win_rate=_ratio(r.won, r.won + r.lost), avg_cycle_days=_float(r.avg_cycle_days))
            for r in rows
        ]
        # Sorted here, not in SQL, so that "(none)" sorts the same under every database collation.
        if dimension == "month":
            return sorted(result, key=lambda row: row.key)
        return sorted(result, key=lambda row: (-row.count, row.key))
