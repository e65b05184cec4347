"""Stage alert queries: the alerted change and who took it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from storage.models import (
    Collaborator,
    StageChange,
)


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def active_collaborators(self, team_id: str, opportunity_id: int) -> list[Collaborator]:
        return list(self.session.scalars(
            select(Collaborator).where(Collaborator.team_id == team_id, Collaborator.opportunity_id == opportunity_id, Collaborator.released_at.is_(None))
            .order_by(Collaborator.taken_at, Collaborator.id)
        ))


    def active_collaborator_of_change(self, team_id: str, stage_change_id: int) -> Collaborator | None:
        return self.session.scalars(
            select(Collaborator).where(Collaborator.team_id == team_id, Collaborator.stage_change_id == stage_change_id, Collaborator.released_at.is_(None))
        ).first()


    def stage_change(self, team_id: str, change_id: int) -> StageChange | None:
        return self.session.scalars(select(StageChange).where(StageChange.team_id == team_id, StageChange.id == change_id)).first()
