"""Sales teams and their reps: queries and writes."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlmodel import Session

from bot.domain.values import TeamView
from storage.models import (
    SalesTeam,
    SalesTeamMember,
)


class TeamRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def managed_user_ids(self, team_id: str, manager_id: str) -> set[str]:
        rows = self.session.scalars(
            select(SalesTeamMember.user_id).join(SalesTeam, SalesTeam.id == SalesTeamMember.sales_team_id)
            .where(SalesTeam.team_id == team_id, SalesTeamMember.team_id == team_id, SalesTeam.manager_id == manager_id)
        )
        return set(rows)


    def managers_of(self, team_id: str, user_id: str) -> list[str]:
        """The managers of the sales teams the person is a rep of, by id."""
        return sorted(set(self.session.scalars(
            select(SalesTeam.manager_id).join(SalesTeamMember, SalesTeamMember.sales_team_id == SalesTeam.id)
            .where(SalesTeam.team_id == team_id, SalesTeamMember.team_id == team_id, SalesTeamMember.user_id == user_id)
        )))

    def pipeline_of(self, team_id: str, user_id: str) -> int | None:
        """The pipeline of the person's sales team (as a rep, else as its manager): where their new deals go by default."""
        member = (select(SalesTeam.pipeline_id).join(SalesTeamMember, SalesTeamMember.sales_team_id == SalesTeam.id)
                  .where(SalesTeam.team_id == team_id, SalesTeamMember.team_id == team_id, SalesTeamMember.user_id == user_id))
        found = self.session.execute(member.limit(1)).first()
        if found is None:
            found = self.session.execute(select(SalesTeam.pipeline_id).where(SalesTeam.team_id == team_id, SalesTeam.manager_id == user_id)
                                         .order_by(SalesTeam.name).limit(1)).first()
        return found[0] if found is not None else None

    def sales_teams(self, team_id: str) -> list[SalesTeam]:
        return list(self.session.scalars(select(SalesTeam).where(SalesTeam.team_id == team_id).order_by(SalesTeam.name)))


    def remove_team_member(self, team_id: str, sales_team_id: int, user_id: str) -> None:
        self.session.execute(delete(SalesTeamMember).where(
            SalesTeamMember.team_id == team_id, SalesTeamMember.sales_team_id == sales_team_id, SalesTeamMember.user_id == user_id))


    def members_by_sales_team(self, team_id: str) -> dict[int, list[str]]:
        """Every sales team's reps, in one query."""
        found: dict[int, list[str]] = {}
        for sales_team_id, user_id in self.session.execute(
                select(SalesTeamMember.sales_team_id, SalesTeamMember.user_id).where(SalesTeamMember.team_id == team_id)):
            found.setdefault(sales_team_id, []).append(user_id)
        return found

    def add_member(self, team_id: str, sales_team_id: int, user_id: str) -> None:
        self.session.add(SalesTeamMember(team_id=team_id, sales_team_id=sales_team_id, user_id=user_id))

    def views(self, team_id: str) -> list[TeamView]:
        """Every sales team of the workspace with its reps, in two queries."""
        members = self.members_by_sales_team(team_id)
        return [TeamView(t.id or 0, t.name, t.manager_id, tuple(sorted(members.get(t.id or 0, ()))), t.channel, t.digest_cron, t.timezone,
                         t.auto_assign, t.routing_channel, t.pipeline_id) for t in self.sales_teams(team_id)]
