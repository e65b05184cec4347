"""Assignment queries: who is away, who was assigned last."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from storage.models import (
    Member,
    OwnerChange,
)


class AssignmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def away_until(self, team_id: str, user_ids: tuple[str, ...]) -> dict[str, datetime]:
        return dict(self.session.execute(
            select(Member.user_id, Member.away_until).where(Member.team_id == team_id, Member.user_id.in_(user_ids), Member.away_until.is_not(None))).all())


    def last_assigned(self, team_id: str, user_ids: tuple[str, ...]) -> dict[str, datetime]:
        return dict(self.session.execute(
            select(OwnerChange.to_owner, func.max(OwnerChange.changed_at)).where(OwnerChange.team_id == team_id, OwnerChange.to_owner.in_(user_ids))
            .group_by(OwnerChange.to_owner)).all())
