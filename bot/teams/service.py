"""Sales teams in Slack: `/opp team`, `/opp team add @rep`, `/opp team remove @rep`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from bot.domain.values import N_, Actor, Forbidden, Invalid, NotFound, TeamView
from storage.db import UnitOfWorkFactory

log = logging.getLogger(__name__)

# why someone can't own a deal (Workspaces.check_owner), said of a team
ON_A_TEAM = {"A bot can't own an opportunity; pick a person.": N_("A bot can't be on a team; pick a person.")}


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
            raise NotFound(N_("This workspace has no sales teams yet; an admin defines them in OPPBOT_CONFIG ([[teams]])."))
        if name:
            wanted = name.strip().lower()
            matches = [t for t in teams if t.name.lower() == wanted] or [t for t in teams if t.name.lower().startswith(wanted)]
            if len(matches) != 1:
                raise Invalid(N_("No single team matches “{name}”. Teams: {teams}."), name=name, teams=", ".join(t.name for t in teams))
            return matches[0]
        managed = [t for t in teams if t.manager_id == actor.user_id]
        if len(managed) == 1:
            return managed[0]
        if len(managed) > 1:
            raise Invalid(N_("You manage several teams ({teams}); name one, e.g. `… {first}`."), teams=", ".join(t.name for t in managed), first=managed[0].name)
        member_of = [t for t in teams if actor.user_id in t.member_ids]
        if member_of and not for_change:
            return member_of[0]
        if actor.is_admin and len(teams) == 1:
            return teams[0]
        raise Invalid(N_("Name the team: {teams}."), teams=", ".join(t.name for t in teams))

    def _check_manages(self, actor: Actor, team: TeamView) -> None:
        if not (actor.is_admin or team.manager_id == actor.user_id):
            raise Forbidden(N_("Only {team}'s manager <@{manager}> or an admin can change the team."), team=team.name, manager=team.manager_id)

    def add(self, actor: Actor, user_id: str, team_name: str | None) -> TeamView:
        team = self.pick(actor, team_name, for_change=True)
        self._check_manages(actor, team)
        if problem := self.check_person(actor.team_id, user_id):
            raise Invalid(ON_A_TEAM.get(problem, problem))
        if user_id in team.member_ids:
            raise Invalid(N_("<@{user}> is already on {team}."), user=user_id, team=team.name)
        current = next((t for t in self._views(actor.team_id) if user_id in t.member_ids), None)
        if current is not None:
            raise Invalid(N_("<@{user}> is on {team}; a rep belongs to one team. Remove them there first (`/opp team remove <@{user}> {team}`)."),
                          user=user_id, team=current.name)
        with self.uow(write=True) as uow:
            uow.teams.add_member(actor.team_id, team.id, user_id)
            try:
                uow.commit()
            except IntegrityError:
                raise Invalid(N_("<@{user}> just joined another team; run `/opp team` to see."), user=user_id) from None
        log.info("%s added %s to team %s", actor.user_id, user_id, team.name)
        return self.pick(actor, team.name, for_change=False)

    def remove(self, actor: Actor, user_id: str, team_name: str | None) -> TeamView:
        team = self.pick(actor, team_name, for_change=True)
        self._check_manages(actor, team)
        if user_id not in team.member_ids:
            raise Invalid(N_("<@{user}> is not on {team}."), user=user_id, team=team.name)
        with self.uow(write=True) as uow:
            uow.teams.remove_team_member(actor.team_id, team.id, user_id)
            uow.commit()
        log.info("%s removed %s from team %s", actor.user_id, user_id, team.name)
        return self.pick(actor, team.name, for_change=False)

    def get(self, team_id: str, sales_team_id: int) -> TeamView | None:
        return next((t for t in self._views(team_id) if t.id == sales_team_id), None)



