"""The outbox's SQL: recording, claiming and settling deliveries."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from storage.models import (
    Delivery,
    FollowUp,
    Opportunity,
)


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def open_deliveries(self, team_id: str, *, limit: int) -> list[tuple[Delivery, FollowUp | None, Opportunity | None]]:
        """Pending and failed deliveries, soonest first, with the follow-up and opportunity they are about."""
        follow_up_kinds = ("reminder", "nudge")
        rows = self.session.execute(
            select(Delivery, FollowUp, Opportunity)
            .outerjoin(FollowUp, (FollowUp.id == Delivery.subject_id) & Delivery.kind.in_(follow_up_kinds) & (FollowUp.team_id == team_id))
            .outerjoin(Opportunity, (Opportunity.team_id == team_id) & (
                ((Opportunity.id == FollowUp.opportunity_id) & Delivery.kind.in_(follow_up_kinds))
                | ((Opportunity.id == Delivery.subject_id) & Delivery.kind.not_in(follow_up_kinds))))
            .where(Delivery.team_id == team_id, Delivery.status.in_(("pending", "failed")))
            .order_by(Delivery.status.desc(), Delivery.due_at, Delivery.id).limit(limit)
        )
        return [(d, f, o) for d, f, o in rows]
