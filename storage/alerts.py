"""Stage alert queries: the alerted change and who took it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.domain.values import OPEN
from storage.models import Collaborator, StageChange


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

    def take(self, team_id: str, change: StageChange, user_id: str, now: datetime) -> bool:
        """Record who took the alert of `change`; False when someone else was quicker (the unique index says so)."""
        assert change.id is not None
        try:
            with self.session.begin_nested():
                self.session.add(Collaborator(team_id=team_id, opportunity_id=change.opportunity_id, stage_id=change.to_stage_id,
                                              stage_change_id=change.id, user_id=user_id, taken_at=now))
        except IntegrityError:
            return False
        return True

    def release(self, collaborator: Collaborator, now: datetime) -> None:
        collaborator.released_at = now
        self.session.add(collaborator)

    def visited_stage_ids(self, team_id: str, opportunity_id: int) -> list[int]:
        """The open stages the deal went through, in order (an alert draws its path)."""
        return list(self.session.scalars(
            select(StageChange.to_stage_id).where(StageChange.team_id == team_id, StageChange.opportunity_id == opportunity_id,
                                                  StageChange.to_status == OPEN)
            .order_by(StageChange.changed_at, StageChange.id)))
