"""Assignment: rank a team's reps for a deal and route deals that need an owner.

Every change is one transaction that also records what it tells people (the new owner's DM with
the card, the manager's suggestions, the card refreshes) as outbox rows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.assignment.scoring import Candidate, Suggestion, _band_label, amount_band, rank
from bot.assignment.views import auto_assigned_note, suggestions_message
from bot.deals.cards import schedule_card_refreshes
from bot.deals.views import card_message
from bot.domain.clock import Clock
from bot.domain.languages import ENGLISH
from bot.domain.money import Rates
from bot.domain.values import (
    N_,
    Actor,
    Context,
    Forbidden,
    Invalid,
    OpportunityView,
    TeamView,
    no_such_deal,
)
from bot.domain.when import WhenError, parse_when
from bot.i18n import translator
from bot.outbox.dispatcher import Wake, WakeUp
from bot.outbox.messages import schedule_message
from bot.slack.blocks import mrkdwn
from bot.workspace.config import AssignmentConfig
from storage.analytics import Similar
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.deals import to_view

log = logging.getLogger(__name__)



def team_of(teams: list[TeamView], user_id: str) -> TeamView | None:
    return next((t for t in teams if user_id in t.member_ids), None) or next((t for t in teams if t.manager_id == user_id), None)


def team_of_deal(teams: list[TeamView], opp: OpportunityView) -> TeamView | None:
    return team_of(teams, opp.owner_id) or team_of(teams, opp.created_by)


def check_assigner(actor: Actor, team: TeamView | None) -> None:
    if actor.is_admin or (team is not None and team.manager_id == actor.user_id):
        return
    raise Forbidden(N_("Only the team's manager or an admin assigns deals. You can hand yours back with “Needs an owner”."))


class Assignments:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, check_person: Callable[[str, str], str | None],
                 timezone_of: Callable[[str, str], str], wake: Wake | None = None) -> None:
        self.uow = uow
        self.clock = clock
        # why a user can't own a deal (their Slack profile), or None
        self.check_person = check_person
        self.timezone_of = timezone_of
        self.wake = wake or WakeUp()

    def suggestions(self, uow: UnitOfWork, opp: OpportunityView, team: TeamView | None) -> list[Suggestion]:
        if team is None or not team.member_ids:
            return []
        now = self.clock.now()
        workspace = uow.workspaces.view(opp.team_id)
        weights = AssignmentConfig(**workspace.assignment) if workspace and workspace.assignment else AssignmentConfig()
        rates = workspace.rates if workspace else Rates("USD")
        currency = rates.base
        rate = rates.rate_of(opp.currency)
        band = amount_band(opp.amount * rate) if opp.amount is not None and rate is not None else None
        pipelines = uow.workspaces.pipelines(opp.team_id)
        pipeline = pipelines.of_stage(opp.stage_id)
        # the deal's pipeline counts as an attribute of similar deals when the workspace has several
        similar = Similar(opp.industry, opp.region, opp.company_size, band, pipeline.id if pipelines.several else None)
        reps = tuple(team.member_ids)
        records = {r.owner_id: r for r in uow.figures.rep_records(opp.team_id, reps, now - timedelta(days=weights.window_days), now, similar, rates)}
        loads = {load.owner_id: load for load in uow.figures.rep_loads(opp.team_id, reps, now, rates)}
        away = uow.assignment.away_until(opp.team_id, reps)
        last = uow.assignment.last_assigned(opp.team_id, reps)
        label = " · ".join(x for x in (opp.industry, opp.region, opp.company_size, _band_label(band, currency)) if x)
        candidates = [Candidate(rep, records.get(rep), loads[rep], away.get(rep), last.get(rep)) for rep in reps]
        return rank(candidates, weights, now, similar_label=label, currency=currency, pipeline=pipeline.name if pipelines.several else "")

    def suggest(self, ctx: Context, number: int) -> tuple[OpportunityView, list[Suggestion]]:
        with self.uow() as uow:
            row = uow.deals.opportunity_by_number(ctx.team_id, number)
            if row is None:
                raise no_such_deal(number)
            opp = to_view(row)
            team = team_of_deal(uow.teams.views(ctx.team_id), opp)
            check_assigner(ctx.actor, team)
            return opp, self.suggestions(uow, opp, team)[:3]

    def assign(self, ctx: Context, user_id: str, *, opp_id: int | None = None, number: int | None = None) -> OpportunityView:
        problem = self.check_person(ctx.team_id, user_id)  # the new owner's Slack profile, read before the transaction
        now = self.clock.now()
        with self.uow(write=True) as uow:
            row = uow.deals.locked(ctx.team_id, opp_id=opp_id, number=number)
            if row is None:
                raise no_such_deal(number)
            opp = to_view(row)
            teams = uow.teams.views(ctx.team_id)
            team, target_team = team_of_deal(teams, opp), team_of(teams, user_id)
            check_assigner(ctx.actor, team if team is not None else target_team)
            if not ctx.actor.is_admin and target_team is not None and target_team.manager_id != ctx.user_id:
                raise Forbidden(N_("<@{user}> is on {team}, which you don't manage."), user=user_id, team=target_team.name)
            if problem:
                raise Invalid(problem)
            if opp.owner_id == user_id and not opp.needs_owner:
                raise Invalid(N_("{ref} is already <@{user}>'s."), ref=opp.ref, user=user_id)
            after = self._set_owner(uow, ctx.user_id, row, user_id, "assigned", now)
            uow.commit()
        self.wake()
        return after

    def _set_owner(self, uow: UnitOfWork, by: str, row, user_id: str, how: str, now: datetime) -> OpportunityView:
        """Hand the deal over in the caller's transaction, with the new owner's DM and the card refreshes."""
        uow.deals.set_owner(row, user_id, changed_by=by, how=how, now=now)
        after = to_view(row)
        schedule_card_refreshes(uow, after.team_id, after.id, now)
        t = translator(uow.workspaces.reader_language(after.team_id, user_id))  # the new owner's
        text, card = card_message(uow.deals.card(after), uow.workspaces.pipelines(after.team_id), now, t=t)
        told = t("Automatically assigned to you: {card}", card=text) if how == "automatic" else t("Assigned to you: {card}", card=text)
        schedule_message(uow, team_id=after.team_id, key=f"assigned:{after.id}:{user_id}:{uuid.uuid4().hex}", user_id=user_id,
                         text=told, blocks=card, now=now, subject_id=after.id)
        log.info("%s: %s now owned by %s (%s by %s)", after.team_id, after.ref, user_id, how, by)
        return after

    def needs_owner(self, ctx: Context, opp_id: int) -> str:
        """The owner hands a deal back, or a manager flags it: it goes to the manager with suggestions."""
        with self.uow(write=True) as uow:
            row = uow.deals.locked(ctx.team_id, opp_id=opp_id)
            if row is None:
                raise no_such_deal()
            opp = to_view(row)
            team = team_of_deal(uow.teams.views(ctx.team_id), opp)
            if not (ctx.actor.is_admin or ctx.user_id == opp.owner_id or (team is not None and team.manager_id == ctx.user_id)):
                raise Forbidden(N_("Only {ref}'s owner, their manager or an admin can ask for a new owner."), ref=opp.ref)
            uow.deals.flag_needs_owner(row)
            answer = self.route(uow, to_view(row), requested_by=ctx.user_id)
            uow.commit()
        self.wake()
        return answer

    def route(self, uow: UnitOfWork, opp: OpportunityView, *, requested_by: str) -> str:
        """Send a deal that needs an owner to its team, in the caller's transaction: assigned at once in
        automatic mode, else suggested to the manager. Returns what to tell the one who asked, in their language."""
        now = self.clock.now()
        t = translator(uow.workspaces.reader_language(opp.team_id, requested_by))  # the one who asked
        team = team_of_deal(uow.teams.views(opp.team_id), opp)
        if team is None:
            return t("{ref} needs an owner, but its owner is on no team; an admin can `/opp assign {ref} @rep`.", ref=opp.ref)
        suggestions = self.suggestions(uow, opp, team)
        key = f"{opp.id}:{uuid.uuid4().hex}"
        if team.auto_assign and suggestions:
            chosen = suggestions[0]
            row = uow.deals.locked(opp.team_id, opp_id=opp.id)
            self._set_owner(uow, team.manager_id, row, chosen.user_id, "automatic", now)
            note = auto_assigned_note(opp, chosen, t=translator(uow.workspaces.reader_language(opp.team_id, team.manager_id)))
            schedule_message(uow, team_id=opp.team_id, key=f"auto-assigned:{key}", user_id=team.manager_id, text=note,
                             blocks=[{"type": "section", "text": mrkdwn(note)}], now=now, subject_id=opp.id)
            return t("{ref} was assigned to <@{user}>.", ref=opp.ref, user=chosen.user_id)
        if team.routing_channel:  # a channel reads the workspace's language, the manager their own
            workspace = uow.workspaces.view(opp.team_id)
            reader = translator(workspace.language if workspace else ENGLISH)
        else:
            reader = translator(uow.workspaces.reader_language(opp.team_id, team.manager_id))
        text, message = suggestions_message(opp, suggestions[:3], requested_by=requested_by, team_name=team.name, t=reader)
        if team.routing_channel:
            schedule_message(uow, team_id=opp.team_id, key=f"needs-owner:{key}", channel_id=team.routing_channel, text=text, blocks=message,
                             now=now, subject_id=opp.id)
        else:
            schedule_message(uow, team_id=opp.team_id, key=f"needs-owner:{key}", user_id=team.manager_id, text=text, blocks=message,
                             now=now, subject_id=opp.id)
        where = f"<#{team.routing_channel}>" if team.routing_channel else f"<@{team.manager_id}>"
        return t("{ref} needs an owner; I sent it to {where} with suggestions.", ref=opp.ref, where=where)

    def set_away(self, ctx: Context, user_id: str, until_text: str | None) -> datetime | None:
        """Away until a day (read in the rep's time zone), or back when `until_text` is None; returns the moment."""
        if user_id != ctx.user_id and not (ctx.actor.is_admin or user_id in ctx.actor.managed_user_ids):
            raise Forbidden(N_("You can mark only yourself, or your own reps, as away."))
        until = None
        if until_text:
            tz = ctx.timezone if user_id == ctx.user_id else self.timezone_of(ctx.team_id, user_id)
            try:
                until = parse_when(until_text, self.clock.now(), tz).at
            except WhenError as exc:  # in the words bot/domain/when.py chose: a catalogue entry and its values, when it gives them
                message, values = getattr(exc, "message", None), getattr(exc, "values", None)
                raise (Invalid(message, **(values if isinstance(values, dict) else {})) if isinstance(message, str)
                       else Invalid(str(exc))) from None
        with self.uow(write=True) as uow:
            uow.workspaces.set_away(ctx.team_id, user_id, until, "")
            uow.commit()
        return until
