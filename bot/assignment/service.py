"""Assignment: rank a team's reps for a deal and route deals that need an owner."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError

from bot.assignment.scoring import Candidate, Suggestion, _band_label, amount_band, rank
from bot.assignment.views import suggestions_message
from bot.deals.service import Pipeline, to_view
from bot.domain.values import (
    Actor,
    Forbidden,
    Invalid,
    NotFound,
    OpportunityView,
)
from bot.domain.when import WhenError, parse_when
from bot.slack.blocks import escape, mrkdwn
from bot.slack.gateway import slack_error
from bot.teams.service import Teams, TeamView
from bot.workspace.config import AssignmentConfig
from storage import analytics
from storage.models import Member, OwnerChange

log = logging.getLogger(__name__)


class Assignments:
    def __init__(self, pipeline: Pipeline, teams: Teams) -> None:
        self.pipeline = pipeline
        self.teams = teams
        self.uow = pipeline.uow
        self.clock = pipeline.clock

    def team_of(self, team_id: str, user_id: str) -> TeamView | None:
        teams = self.teams.all(team_id)
        return next((t for t in teams if user_id in t.member_ids), None) or next((t for t in teams if t.manager_id == user_id), None)

    def _team_of_deal(self, opp: OpportunityView) -> TeamView | None:
        return self.team_of(opp.team_id, opp.owner_id) or self.team_of(opp.team_id, opp.created_by)

    def _check_assigner(self, actor: Actor, team: TeamView | None) -> None:
        if actor.is_admin or (team is not None and team.manager_id == actor.user_id):
            return
        raise Forbidden("Only the team's manager or an admin assigns deals. You can hand yours back with “Needs an owner”.")

    def suggestions(self, team_id: str, opp: OpportunityView, team: TeamView | None) -> list[Suggestion]:
        if team is None or not team.member_ids:
            return []
        now = self.clock.now()
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
            weights = AssignmentConfig(**workspace.assignment) if workspace and workspace.assignment else AssignmentConfig()
            currency = workspace.currency if workspace else "USD"
            band = amount_band(opp.amount) if opp.currency == currency else None
            similar = analytics.Similar(opp.industry, opp.region, opp.company_size, band)
            reps = tuple(team.member_ids)
            records = {r.owner_id: r for r in uow.figures.rep_records(team_id, reps, now - timedelta(days=weights.window_days), similar, currency)}
            loads = {l.owner_id: l for l in uow.figures.rep_loads(team_id, reps, now)}
            away = uow.assignment.away_until(team_id, reps)
            last = uow.assignment.last_assigned(team_id, reps)
        label = " · ".join(x for x in (opp.industry, opp.region, opp.company_size, _band_label(band, currency)) if x) or "similar"
        candidates = [Candidate(rep, records.get(rep), loads[rep], away.get(rep), last.get(rep)) for rep in reps]
        return rank(candidates, weights, now, similar_label=f"similar ({label})" if label != "similar" else "similar", currency=currency)

    def suggest(self, actor: Actor, number: int) -> tuple[OpportunityView, list[Suggestion]]:
        opp = self.pipeline.find(actor, number=number)
        team = self._team_of_deal(opp)
        self._check_assigner(actor, team)
        return opp, self.suggestions(actor.team_id, opp, team)[:3]

    def assign(self, actor: Actor, opp_id: int, user_id: str, *, how: str = "assigned") -> OpportunityView:
        opp = self._get(actor.team_id, opp_id)  # the assigner check below is stricter than seeing the deal
        team = self._team_of_deal(opp)
        target_team = self.team_of(actor.team_id, user_id)
        self._check_assigner(actor, team if team is not None else target_team)
        if not actor.is_admin and target_team is not None and target_team.manager_id != actor.user_id:
            raise Forbidden(f"<@{user_id}> is on {target_team.name}, which you don't manage.")
        if problem := self.pipeline.check_owner(actor.team_id, user_id):
            raise Invalid(problem)
        if opp.owner_id == user_id and not opp.needs_owner:
            raise Invalid(f"{opp.ref} is already <@{user_id}>'s.")
        return self._set_owner(actor, opp, user_id, how)

    def _get(self, team_id: str, opp_id: int) -> OpportunityView:
        with self.uow() as uow:
            row = uow.deals.opportunity_by_id(team_id, opp_id)
            if row is None:
                raise NotFound("That opportunity doesn't exist in this workspace.")
            return to_view(row)

    def _set_owner(self, actor: Actor, opp: OpportunityView, user_id: str, how: str) -> OpportunityView:
        now = self.clock.now()
        with self.uow(write=True) as uow:
            row = uow.deals.opportunity_by_id(actor.team_id, opp.id, for_update=True)
            assert row is not None
            uow.session.add(OwnerChange(team_id=actor.team_id, opportunity_id=row.id, from_owner=row.owner_id, to_owner=user_id,  # type: ignore[arg-type]
                                        changed_by=actor.user_id, how=how, changed_at=now))
            row.owner_id, row.needs_owner, row.updated_at = user_id, False, now
            uow.session.add(row)
            uow.commit()
            after = to_view(row)
        stages = self.pipeline.stage_model(actor.team_id)
        self.pipeline.refresh_cards(after, stages)
        text, card = self.pipeline.card(after, stages)
        try:
            self.pipeline.slack.dm(user_id, f"{'Automatically a' if how == 'automatic' else 'A'}ssigned to you: {text}", card)
        except SlackApiError as exc:
            log.warning("could not tell %s about %s: %s", user_id, after.ref, slack_error(exc))
        log.info("%s: %s now owned by %s (%s by %s)", actor.team_id, after.ref, user_id, how, actor.user_id)
        return after

    def needs_owner(self, actor: Actor, opp_id: int) -> str:
        """The owner hands a deal back, or a manager flags it: it goes to the manager with suggestions."""
        opp = self.pipeline.find(actor, opp_id=opp_id)
        team = self._team_of_deal(opp)
        if not (actor.is_admin or actor.user_id == opp.owner_id or (team is not None and team.manager_id == actor.user_id)):
            raise Forbidden(f"Only {opp.ref}'s owner, their manager or an admin can ask for a new owner.")
        with self.uow(write=True) as uow:
            row = uow.deals.opportunity_by_id(actor.team_id, opp.id, for_update=True)
            assert row is not None
            row.needs_owner = True
            uow.session.add(row)
            uow.commit()
        return self.route(opp, requested_by=actor.user_id)

    def route(self, opp: OpportunityView, *, requested_by: str) -> str:
        """Send a deal that needs an owner to its team: assigned at once in automatic mode, else suggested to the manager."""
        team = self._team_of_deal(opp)
        if team is None:
            return f"{opp.ref} needs an owner, but its owner is on no team; an admin can `/opp assign {opp.ref} @rep`."
        suggestions = self.suggestions(opp.team_id, opp, team)
        system = Actor(team_id=opp.team_id, user_id=team.manager_id, managed_user_ids=frozenset(team.member_ids))
        if team.auto_assign and suggestions:
            chosen = suggestions[0]
            self._set_owner(system, opp, chosen.user_id, "automatic")
            note = f"{opp.ref} {escape(opp.name)} was assigned automatically to <@{chosen.user_id}>: {chosen.reasons}."
            self._tell(team.manager_id, None, note, [{"type": "section", "text": mrkdwn(note)}])
            return f"{opp.ref} was assigned to <@{chosen.user_id}>."
        text, message = suggestions_message(opp, suggestions[:3], requested_by=requested_by, team_name=team.name)
        self._tell(team.manager_id, team.routing_channel, text, message)
        where = f"<#{team.routing_channel}>" if team.routing_channel else f"<@{team.manager_id}>"
        return f"{opp.ref} needs an owner; I sent it to {where} with suggestions."

    def _tell(self, manager_id: str, channel: str | None, text: str, message: list[dict]) -> None:
        try:
            if channel:
                self.pipeline.slack.post(channel, text, message)
            else:
                self.pipeline.slack.dm(manager_id, text, message)
        except SlackApiError as exc:
            log.warning("could not route a deal to %s: %s", channel or manager_id, slack_error(exc))

    def set_away(self, actor: Actor, user_id: str, until_text: str | None) -> datetime | None:
        """Away until a day (read in the rep's time zone), or back when `until_text` is None; returns the moment."""
        if user_id != actor.user_id and not (actor.is_admin or user_id in actor.managed_user_ids):
            raise Forbidden("You can mark only yourself, or your own reps, as away.")
        until = None
        if until_text:
            try:
                until = parse_when(until_text, self.clock.now(), self.pipeline.timezone_of(actor.team_id, user_id)).at
            except WhenError as exc:
                raise Invalid(str(exc)) from None
        profile = self.pipeline.profile(actor.team_id, user_id)
        with self.uow(write=True) as uow:
            row = uow.workspaces.member(actor.team_id, user_id) or Member(team_id=actor.team_id, user_id=user_id, name=profile.name if profile else "")
            row.away_until = until
            uow.session.add(row)
            uow.commit()
        return until
