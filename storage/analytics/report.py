"""Breakdowns (`/opp report by …`): the period's deals grouped by one dimension."""

from __future__ import annotations

from collections.abc import Callable
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

from bot.domain.money import Rates
from bot.domain.values import LOST, OPEN, WON
from storage.analytics._sql import (
    _cents,
    _deal_filters,
    _month_of,
    _ratio,
    _Scopes,
    _summed_cent_percents,
    _summed_cents,
    _Totals,
)
from storage.analytics.outcomes import cycle_days, final_closes
from storage.analytics.values import (
    ReportRow,
    Scope,
)
from storage.models import Opportunity, Stage

NONE_LABEL = "(none)"
TAG_COLUMNS = ("found", "reach", "visibility", "change_kind")
DIMENSIONS = ("industry", "region", "size", "tag", "month", "rep")
BY_REASON = "reason"  # `/opp report by reason`: the period's losses by reason (OutcomeFigures.lost_reasons), not a breakdown
REPORT_BY = (*DIMENSIONS, BY_REASON)
_GROUPED_BY = ("owner_id", "industry", "region", "company_size", *TAG_COLUMNS)


class ReportFigures:
    """Breakdowns by dimension."""

    session: Session

    # ----- 11. breakdowns ------------------------------------------------------------------------

    def report(self, scope: Scope, dimension: str, since: datetime, until: datetime, rates: Rates) -> list[ReportRow]:
        """The period [since, until) grouped by `dimension`, two cohorts a row:

        - the deals *created* in the period: how many, their amount, and the weighted amount of those
          still open (amount × the stage's probability), converted with `rates`;
        - the deals *closed* in the period — the same final closes as the win rate (`final_closes`): won
          and lost, their win rate, the amount won, and the average sales cycle of the won ones.

        dimension: industry | region | size | month (UTC month of creation, and of the close) |
        rep (current owner) | tag (each deal in one group per tag column, e.g. "reach: strategic").
        A missing value is grouped as "(none)". Groups by deals created, most first (then by name);
        month: chronological.
        """
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")

        created = (
            select(
                *(getattr(Opportunity, c) for c in _GROUPED_BY), Opportunity.created_at.label("at"), Opportunity.currency,
                literal(1).label("deals"),
                _cents(Opportunity.amount).label("cents"),
                case((Opportunity.status == OPEN, _cents(Opportunity.amount) * Stage.probability)).label("open_cent_percent"),
            )
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            .where(*_deal_filters(scope), Opportunity.created_at >= since, Opportunity.created_at < until)
            .subquery("created")
        )
        closes = final_closes(_Scopes(self.session, [scope]), since, until, *(getattr(Opportunity, c) for c in _GROUPED_BY))
        closed = select(
            *(closes.c[c] for c in _GROUPED_BY), closes.c.closed_at.label("at"), closes.c.currency,
            case((closes.c.outcome == WON, 1), else_=0).label("won"),
            case((closes.c.outcome == LOST, 1), else_=0).label("lost"),
            case((closes.c.outcome == WON, _cents(closes.c.amount))).label("won_cents"),
            case((closes.c.outcome == WON, cycle_days(self.session, closes))).label("cycle_days"),
        ).subquery("closed")

        rows: dict[str, dict[str, Any]] = {}
        amounts, open_amounts, won_amounts = _Totals(rates), _Totals(rates), _Totals(rates)

        def row(key: str) -> dict[str, Any]:
            return rows.setdefault(key, {"count": 0, "won": 0, "lost": 0, "cycle_days": 0.0})

        for r in self.session.execute(self._grouped(created, dimension, lambda c: [
            func.sum(c.deals).label("deals"), func.sum(c.cents).label("cents"), func.sum(c.open_cent_percent).label("open_cent_percent"),
        ])):
            row(r.key)["count"] += int(r.deals)
            if r.cents is not None:
                amounts.add(r.key, r.currency, _summed_cents(r.cents))
            if r.open_cent_percent is not None:
                open_amounts.add(r.key, r.currency, _summed_cent_percents(r.open_cent_percent))
        for r in self.session.execute(self._grouped(closed, dimension, lambda c: [
            func.sum(c.won).label("won"), func.sum(c.lost).label("lost"),
            func.sum(c.won_cents).label("won_cents"), func.sum(c.cycle_days).label("cycle_days"),
        ])):
            figures = row(r.key)
            figures["won"] += int(r.won)
            figures["lost"] += int(r.lost)
            figures["cycle_days"] += float(r.cycle_days or 0)
            if r.won_cents is not None:
                won_amounts.add(r.key, r.currency, _summed_cents(r.won_cents))

        result = [
            ReportRow(key=key, count=f["count"], amount=amounts.money(key), weighted_open_amount=open_amounts.money(key),
                      won_count=f["won"], lost_count=f["lost"], won_amount=won_amounts.money(key),
                      win_rate=_ratio(f["won"], f["won"] + f["lost"]),
                      avg_cycle_days=f["cycle_days"] / f["won"] if f["won"] else None)
            for key, f in rows.items()
        ]
        # Sorted here, not in SQL, so that "(none)" sorts the same under every database collation.
        if dimension == "month":
            return sorted(result, key=lambda r: r.key)
        return sorted(result, key=lambda r: (-r.count, r.key))

    def _grouped(self, source: Any, dimension: str, sums: Callable[[Any], list[Any]]) -> Any:
        """`sums(columns)` over `source` per (key, currency), the key being the row's group in `dimension`
        (a row per tag column for `tag`)."""

        def named(column: Any) -> Any:
            return func.coalesce(column, NONE_LABEL)

        if dimension == "tag":
            keys = [literal(f"{tag}: ", String) + named(source.c[tag]) for tag in TAG_COLUMNS]
        else:
            keys = [{
                "industry": named(source.c.industry),
                "region": named(source.c.region),
                "size": named(source.c.company_size),
                "month": _month_of(self.session, source.c.at),
                "rep": source.c.owner_id,
            }[dimension]]
        keyed = union_all(*[select(source, key.label("key")) for key in keys]).subquery()
        return select(keyed.c.key, keyed.c.currency, *sums(keyed.c)).group_by(keyed.c.key, keyed.c.currency)
