"""Follow-up hygiene: overdue follow-ups per assignee, open deals with no pending follow-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    exists,
    func,
    select,
)
from sqlmodel import Session

from bot.domain.values import OPEN
from storage.analytics._sql import _Scopes
from storage.analytics.values import (
    DealRef,
    OpenWithoutFollowUp,
    OverdueFollowUps,
    Scope,
)
from storage.models import PENDING, FollowUp, Opportunity


class FollowUpFigures:
    """Overdue follow-ups and open deals without one."""

    session: Session

    # ----- 10. follow-up hygiene -----------------------------------------------------------------

    def overdue_follow_ups_by_rep(self, scope: Scope, now: datetime) -> list[OverdueFollowUps]:
        """Pending follow-ups due before `now` on the scope's deals, per assignee (who may be outside
        the scope's owners): how many and the oldest due time. Most overdue first."""
        return self.overdue_follow_ups_each([scope], now)[0]

    def overdue_follow_ups_each(self, scopes: Sequence[Scope], now: datetime) -> list[list[OverdueFollowUps]]:
        group = _Scopes(self.session, scopes)
        members = group.members()
        oldest = func.min(FollowUp.due_at)
        rows = group.execute(
            select(members.c.grp, FollowUp.assignee_id, func.count().label("count"), oldest.label("oldest_due_at"))
            .select_from(FollowUp)
            .join(Opportunity, and_(Opportunity.id == FollowUp.opportunity_id, Opportunity.team_id == FollowUp.team_id))
            .join(members, group.on(members, Opportunity.owner_id))
            .where(FollowUp.team_id == group.team_id, FollowUp.status == PENDING, FollowUp.due_at < now, *group.deal_filters())
            .group_by(members.c.grp, FollowUp.assignee_id)
            .order_by(members.c.grp, func.count().desc(), oldest, FollowUp.assignee_id)
        )
        result: list[list[OverdueFollowUps]] = [[] for _ in scopes]
        for r in rows:
            result[r.grp].append(OverdueFollowUps(assignee_id=r.assignee_id, count=r.count, oldest_due_at=r.oldest_due_at))
        return result

    def open_without_follow_up(self, scope: Scope, limit: int = 10) -> OpenWithoutFollowUp:
        """Open deals with no pending follow-up: how many, and the first `limit` (at least 1), longest in
        their stage first."""
        return self.open_without_follow_up_each([scope], limit)[0]

    def open_without_follow_up_each(self, scopes: Sequence[Scope], limit: int = 10) -> list[OpenWithoutFollowUp]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        group = _Scopes(self.session, scopes)
        members = group.members()
        pending = exists().where(FollowUp.team_id == Opportunity.team_id, FollowUp.opportunity_id == Opportunity.id,
                                 FollowUp.status == PENDING)
        ranked = (
            select(members.c.grp, Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
                   Opportunity.stage_entered_at,
                   func.row_number().over(partition_by=members.c.grp, order_by=(Opportunity.stage_entered_at, Opportunity.number)).label("place"),
                   func.count().over(partition_by=members.c.grp).label("total"))
            .select_from(Opportunity)
            .join(members, group.on(members, Opportunity.owner_id))
            .where(*group.deal_filters(), Opportunity.status == OPEN, ~pending)
            .subquery()
        )
        found: list[list[Any]] = [[] for _ in scopes]
        for r in group.execute(select(ranked).where(ranked.c.place <= limit).order_by(ranked.c.grp, ranked.c.place)):
            found[r.grp].append(r)
        return [OpenWithoutFollowUp(
            total=rows[0].total if rows else 0,
            deals=tuple(DealRef(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id,
                                stage_id=r.stage_id, stage_entered_at=r.stage_entered_at) for r in rows),
        ) for rows in found]
