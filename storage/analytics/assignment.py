"""Assignment: each candidate rep's record on similar deals, and current load."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlmodel import Session

from bot.domain.money import Rates
from bot.domain.values import OPEN, WON
from storage.analytics._sql import (
    _at,
    _cents,
    _Scopes,
    _summed_cent_percents,
    _Totals,
)
from storage.analytics.outcomes import cycle_days, final_closes
from storage.analytics.values import (
    RepLoad,
    RepRecord,
    Scope,
    Similar,
)
from storage.models import PENDING, FollowUp, Opportunity, Stage


class AssignmentFigures:
    """Rep records and loads for assignment."""

    session: Session

    def rep_records(self, team_id: str, owner_ids: tuple[str, ...], since: datetime, until: datetime, similar: Similar,
                    rates: Rates) -> list[RepRecord]:
        """Each rep's closes in [since, until) — the win rate's final closes (`final_closes`): deals now won or
        lost whose close fell in the window, of every pipeline — each weighted by how similar it is to the deal being
        assigned (the share of its known attributes a close shares: industry, region, size, amount band and pipeline);
        their cycle is the sales cycle's (`cycle_days`)."""
        closes = final_closes(_Scopes(self.session, [Scope(team_id, owner_ids=owner_ids)]), since, until,
                              Opportunity.owner_id, Opportunity.industry, Opportunity.region, Opportunity.company_size, Opportunity.stage_id)
        matches = []
        if similar.industry:
            matches.append(case((closes.c.industry == similar.industry, 1.0), else_=0.0))
        if similar.region:
            matches.append(case((closes.c.region == similar.region, 1.0), else_=0.0))
        if similar.company_size:
            matches.append(case((closes.c.company_size == similar.company_size, 1.0), else_=0.0))
        if similar.amount_band is not None:
            matches.append(case((_in_band(closes, similar.amount_band, rates), 1.0), else_=0.0))
        if similar.pipeline_id is not None:  # a close now in the deal's pipeline (its stage's), like the other attributes
            in_pipeline = select(Stage.id).where(Stage.team_id == team_id, Stage.pipeline_id == similar.pipeline_id).scalar_subquery()
            matches.append(case((closes.c.stage_id.in_(in_pipeline), 1.0), else_=0.0))
        weight = (sum(matches[1:], matches[0]) / float(len(matches))) if matches else literal(1.0)
        exact = case((weight >= 0.999, 1), else_=0)
        won = case((closes.c.outcome == WON, 1), else_=0)
        rows = self.session.execute(
            select(closes.c.owner_id, func.count(), func.sum(won), func.sum(exact), func.sum(exact * won),
                   func.sum(weight), func.sum(weight * won),
                   func.sum(case((closes.c.outcome == WON, weight * cycle_days(self.session, closes)), else_=0.0)))
            .group_by(closes.c.owner_id)
        )
        return [RepRecord(owner, int(n), int(w or 0), int(sn or 0), int(sw or 0), float(wc or 0), float(ww or 0), float(wd or 0))
                for owner, n, w, sn, sw, wc, ww, wd in rows]

    def rep_loads(self, team_id: str, owner_ids: tuple[str, ...], now: datetime, rates: Rates) -> list[RepLoad]:
        """Each rep's open deals, their weighted amount (amount × stage probability, converted with `rates`;
        a currency without a rate counts in the deals, not in the amount) and overdue follow-ups."""
        counts: dict[str, int] = {}
        weighted = _Totals(rates)
        for owner, currency, n, cent_percent in self.session.execute(
            select(Opportunity.owner_id, Opportunity.currency, func.count(), func.sum(_cents(Opportunity.amount) * Stage.probability))
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            # a deal waiting for an owner is only held by its creator: it is nobody's load
            .where(Opportunity.team_id == team_id, Opportunity.owner_id.in_(owner_ids), Opportunity.status == OPEN, Opportunity.needs_owner.is_(False))
            .group_by(Opportunity.owner_id, Opportunity.currency)
        ):
            counts[owner] = counts.get(owner, 0) + int(n)
            if cent_percent is not None:
                weighted.add(owner, currency, _summed_cent_percents(cent_percent))
        overdue = dict(self.session.execute(
            select(FollowUp.assignee_id, func.count())
            .where(FollowUp.team_id == team_id, FollowUp.assignee_id.in_(owner_ids), FollowUp.status == PENDING, FollowUp.due_at < _at(now))
            .group_by(FollowUp.assignee_id)
        ).all())
        return [RepLoad(owner, counts.get(owner, 0), weighted.money(owner).amount, int(overdue.get(owner, 0))) for owner in owner_ids]


def _in_band(closes: Any, band: tuple[Decimal, Decimal], rates: Rates) -> Any:
    """A close whose amount, in the workspace currency, falls in [low, high): the band is converted into each
    currency that has a rate (a currency without one is in no band)."""
    low, high = band
    clauses = [and_(closes.c.currency == rates.base, closes.c.amount >= low, closes.c.amount < high)]
    for rate in rates.rates:
        clauses.append(and_(closes.c.currency == rate.currency, closes.c.amount >= low / rate.rate, closes.c.amount < high / rate.rate))
    return or_(*clauses)
