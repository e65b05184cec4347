"""Sales teams in Slack: `/opp team`, `/opp team add @rep`, `/opp team remove @rep`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from bot.domain.values import Actor, Forbidden, Invalid, NotFound, TeamView
from storage.db import UnitOfWorkFactory

log = logging.getLogger(__name__)


class Teams:
    def __init__(self, uow: UnitOfWorkFactory, ensure_workspace: Callable[[str], None], check_person: Callable[[str, str], str | None]) -> None:
        self.uow = uow
        self.ensure_workspace = ensure_workspace
        # why a user can't be on a team (their Slack profile), or None
        self.check_person = check_person

    def _views(self, team_id: str) -> list[TeamView]:
        with self.uow() as uow:
            return uow.teams.views(team_id)

    def all(self, team_id: str) -> list[TeamView]:
        self.ensure_workspace(team_id)
        return self._views(team_id)

    def pick(self, actor: Actor, name: str | None, *, for_change: bool) -> TeamView:
        """The team a command means: by name, else the one the actor manages or belongs to."""
        teams = self.all(actor.team_id)
        if not teams:
            raise NotFound("This workspace has no sales teams yet; an admin defines them in OPPBOT_CONFIG ([[teams]]).")
        if name:
            wanted = name.strip().lower()
            matches = [t for t in teams if t.name.lower() == wanted] or [t for t in teams if t.name.lower().startswith(wanted)]
            if len(matches) != 1:
                raise Invalid(f"No single team matches “{name}”. Teams: {', '.join(t.name for t in teams)}.")
            return matches[0]
        managed = [t for t in teams if t.manager_id == actor.user_id]
        if len(managed) == 1:
            return managed[0]
        if len(managed) > 1:
            raise Invalid(f"You manage several teams ({', '.join(t.name for t in managed)}); name one, e.g. `… {managed[0].name}`.")
        member_of = [t for t in teams if actor.user_id in t.member_ids]
        if member_of and not for_change:
            return member_of[0]
        if actor.is_admin and len(teams) == 1:
            return teams[0]
        raise Invalid(f"Name the team: {', '.join(t.name for t in teams)}.")

    def _check_manages(self, actor: Actor, team: TeamView) -> None:
        if not (actor.is_admin or team.manager_id == actor.user_id):
            raise Forbidden(f"Only {team.name}'s manager <@{team.manager_id}> or an admin can change the team.")

    def add(self, actor: Actor, user_id: str, team_name: str | None) -> TeamView:
        team = self.pick(actor, team_name, for_change=True)
        self._check_manages(actor, team)
        if problem := self.check_person(actor.team_id, user_id):
            raise Invalid(problem.replace("own an opportunity", "be on a team"))
        if user_id in team.member_ids:
            raise Invalid(f"<@{user_id}> is already on {team.name}.")
        current = next((t for t in self._views(actor.team_id) if user_id in t.member_ids), None)
        if current is not None:
            raise Invalid(f"<@{user_id}> is on {current.name}; a rep belongs to one team. Remove them there first (`/opp team remove <@{user_id}> {current.name}`).")
        with self.uow(write=True) as uow:
            uow.teams.add_member(actor.team_id, team.id, user_id)
            try:
                uow.commit()
            except IntegrityError:
                raise Invalid(f"<@{user_id}> just joined another team; run `/opp team` to see.") from None
        log.info("%s added %s to team %s", actor.user_id, user_id, team.name)
        return self.pick(actor, team.name, for_change=False)

    def remove(self, actor: Actor, user_id: str, team_name: str | None) -> TeamView:
        team = self.pick(actor, team_name, for_change=True)
        self._check_manages(actor, team)
        if user_id not in team.member_ids:
            raise Invalid(f"<@{user_id}> is not on {team.name}.")
        with self.uow(write=True) as uow:
            uow.teams.remove_team_member(actor.team_id, team.id, user_id)
            uow.commit()
        log.info("%s removed %s from team %s", actor.user_id, user_id, team.name)
        return self.pick(actor, team.name, for_change=False)

    def get(self, team_id: str, sales_team_id: int) -> TeamView | None:
        return next((t for t in self._views(team_id) if t.id == sales_team_id), None)



