"""Assignment: each candidate rep's record on similar deals, and current load."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    case,
    func,
    literal,
    select,
)
from sqlmodel import Session

from bot.domain.values import LOST, OPEN, WON
from storage.analytics._sql import (
    _at,
    _cents,
    _days_between,
    _weighted_money,
)
from storage.analytics.values import (
    RepLoad,
    RepRecord,
    Similar,
)
from storage.models import PENDING, FollowUp, Opportunity, Stage


class AssignmentFigures:
    """Rep records and loads for assignment."""

    session: Session

    def rep_records(self, team_id: str, owner_ids: tuple[str, ...], since: datetime, similar: Similar, currency: str) -> list[RepRecord]:
        """Each rep's closed deals in the window, weighted by how similar each is to the deal being assigned."""
        matches = []
        if similar.industry:
            matches.append(case((Opportunity.industry == similar.industry, 1.0), else_=0.0))
        if similar.region:
            matches.append(case((Opportunity.region == similar.region, 1.0), else_=0.0))
        if similar.company_size:
            matches.append(case((Opportunity.company_size == similar.company_size, 1.0), else_=0.0))
        if similar.amount_band is not None:
            low, high = similar.amount_band
            matches.append(case(((Opportunity.currency == currency) & (Opportunity.amount >= low) & (Opportunity.amount < high), 1.0), else_=0.0))
        weight = (sum(matches[1:], matches[0]) / float(len(matches))) if matches else literal(1.0)
        exact = case((weight >= 0.999, 1), else_=0)
        won = case((Opportunity.status == WON, 1), else_=0)
        days = _days_between(self.session, Opportunity.created_at, Opportunity.closed_at)
        rows = self.session.execute(
            select(Opportunity.owner_id, func.count(), func.sum(won), func.sum(exact), func.sum(exact * won),
                   func.sum(weight), func.sum(weight * won), func.sum(case((Opportunity.status == WON, weight * days), else_=0.0)))
            .where(Opportunity.team_id == team_id, Opportunity.owner_id.in_(owner_ids), Opportunity.status.in_((WON, LOST)),
                   Opportunity.closed_at >= _at(since))
            .group_by(Opportunity.owner_id)
        )
        return [RepRecord(owner, int(n), int(w or 0), int(sn or 0), int(sw or 0), float(wc or 0), float(ww or 0), float(wd or 0))
                for owner, n, w, sn, sw, wc, ww, wd in rows]

    def rep_loads(self, team_id: str, owner_ids: tuple[str, ...], now: datetime) -> list[RepLoad]:
        """Each rep's open deals, their weighted amount (amount × stage probability) and overdue follow-ups."""
        open_rows = self.session.execute(
            select(Opportunity.owner_id, func.count(), func.sum(_cents(func.coalesce(Opportunity.amount, 0)) * Stage.probability))
            .join(Stage, Stage.id == Opportunity.stage_id)
            # a deal waiting for an owner is only held by its creator: it is nobody's load
            .where(Opportunity.team_id == team_id, Opportunity.owner_id.in_(owner_ids), Opportunity.status == OPEN, Opportunity.needs_owner.is_(False))
            .group_by(Opportunity.owner_id)
        )
        loads = {owner: (int(n), _weighted_money(w)) for owner, n, w in open_rows}
        overdue = dict(self.session.execute(
            select(FollowUp.assignee_id, func.count())
            .where(FollowUp.team_id == team_id, FollowUp.assignee_id.in_(owner_ids), FollowUp.status == PENDING, FollowUp.due_at < _at(now))
            .group_by(FollowUp.assignee_id)
        ).all())
        return [RepLoad(owner, loads.get(owner, (0, Decimal(0)))[0], loads.get(owner, (0, Decimal("0.00")))[1], int(overdue.get(owner, 0)))
                for owner in owner_ids]
