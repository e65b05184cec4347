"""Workspace, stage model and member profile queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from storage.models import (
    Member,
    Stage,
    Workspace,
)


class WorkspaceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_workspace(self, team_id: str) -> Workspace | None:
        return self.session.get(Workspace, team_id)


    def all_team_ids(self) -> list[str]:
        return list(self.session.scalars(select(Workspace.team_id)))


    def stages(self, team_id: str) -> list[Stage]:
        return list(self.session.scalars(select(Stage).where(Stage.team_id == team_id).order_by(Stage.active.desc(), Stage.position)))


    def member(self, team_id: str, user_id: str) -> Member | None:
        return self.session.get(Member, (team_id, user_id))
