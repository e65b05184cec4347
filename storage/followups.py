"""Follow-up queries and writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, func, select
from sqlmodel import Session

from storage.models import (
    DONE,
    PENDING,
    FollowUp,
    Opportunity,
)


class FollowUpRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def next_follow_ups(self, team_id: str, opportunity_ids: list[int]) -> dict[int, FollowUp]:
        """The earliest pending follow-up of each given opportunity, in one query."""
        if not opportunity_ids:
            return {}
        earliest = (
            select(FollowUp.opportunity_id, func.min(FollowUp.due_at).label("due_at"))
            .where(FollowUp.team_id == team_id, FollowUp.opportunity_id.in_(opportunity_ids), FollowUp.status == PENDING)
            .group_by(FollowUp.opportunity_id)
            .subquery()
        )
        rows = self.session.scalars(
            select(FollowUp).join(earliest, (FollowUp.opportunity_id == earliest.c.opportunity_id) & (FollowUp.due_at == earliest.c.due_at))
            # the IN list again: without it a planner may read every pending follow-up of the workspace
            .where(FollowUp.team_id == team_id, FollowUp.opportunity_id.in_(opportunity_ids), FollowUp.status == PENDING)
            .order_by(FollowUp.id)
        )
        found: dict[int, FollowUp] = {}
        for row in rows:
            found.setdefault(row.opportunity_id, row)
        return found


    def follow_up_and_opportunity(self, team_id: str, follow_up_id: int) -> tuple[Row, Row] | None:
        """A follow-up and its deal as plain rows (the columns by name), for sending a reminder: two
        primary-key reads without the ORM, whose loading was a third of the CPU a reminder cost."""
        follow_ups, opportunities = FollowUp.__table__, Opportunity.__table__
        follow_up_row = self.session.execute(select(follow_ups).where(follow_ups.c.team_id == team_id, follow_ups.c.id == follow_up_id)).first()
        if follow_up_row is None:
            return None
        opportunity_row = self.session.execute(select(opportunities).where(
            opportunities.c.team_id == team_id, opportunities.c.id == follow_up_row.opportunity_id)).first()
        return (follow_up_row, opportunity_row) if opportunity_row is not None else None


    def follow_up(self, team_id: str, follow_up_id: int, *, for_update: bool = False) -> FollowUp | None:
        query = select(FollowUp).where(FollowUp.team_id == team_id, FollowUp.id == follow_up_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).first()


    def pending_follow_ups_of(self, team_id: str, assignee_id: str, *, due_before: datetime, limit: int) -> list[FollowUp]:
        return list(self.session.scalars(
            select(FollowUp).where(FollowUp.team_id == team_id, FollowUp.assignee_id == assignee_id, FollowUp.status == PENDING,
                                   FollowUp.due_at < due_before)
            .order_by(FollowUp.due_at, FollowUp.id).limit(limit)
        ))

    def add(self, team_id: str, opportunity_id: int, text: str, due_at: datetime, assignee_id: str, created_by: str, now: datetime) -> FollowUp:
        row = FollowUp(team_id=team_id, opportunity_id=opportunity_id, text=text, due_at=due_at, assignee_id=assignee_id,
                       status=PENDING, created_by=created_by, created_at=now)
        self.session.add(row)
        self.session.flush()
        return row

    def complete(self, row: FollowUp, done_by: str, now: datetime) -> None:
        row.status, row.done_at, row.done_by = DONE, now, done_by
        self.session.add(row)

    def reschedule(self, row: FollowUp, due_at: datetime) -> None:
        row.due_at = due_at
        self.session.add(row)
