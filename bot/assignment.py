"""Assignment: rank a team's reps for a deal and route deals that need an owner.

A rep's score combines (a) their win rate on similar deals — same industry, region, company size,
amount band — smoothed toward the team's rate so that 1 win out of 1 does not beat 40 out of 60,
and their speed to a win, smoothed the same way; (b) their current load (open deals, weighted open
amount, overdue follow-ups) against the team's average; (c) availability: reps marked away are left out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Sequence

from slack_sdk.errors import SlackApiError

from bot import blocks as ui
from bot.config import AssignmentConfig
from bot.core import Pipeline, to_view
from bot.domain import Actor, Forbidden, Invalid, NotFound, OpportunityView
from bot.slack_gateway import slack_error
from bot.teams import Teams, TeamView
from bot.when import WhenError, parse_when
from storage import analytics, queries
from storage.models import Member, OwnerChange

log = logging.getLogger(__name__)

PRIOR_STRENGTH = 5.0  # how many closed deals' worth of evidence the team's rate counts for
CONFIDENCE_Z = 1.28   # an 80% lower bound: a rate is trusted as far as its evidence goes
DEFAULT_WIN_RATE = 0.3
AMOUNT_BANDS = (Decimal(0), Decimal(10_000), Decimal(100_000), Decimal(1_000_000), Decimal(10) ** 13)


@dataclass(frozen=True)
class Candidate:
    user_id: str
    record: analytics.RepRecord | None
    load: analytics.RepLoad
    away_until: datetime | None = None
    last_assigned: datetime | None = None


@dataclass(frozen=True)
class Suggestion:
    user_id: str
    score: float
    win_rate: float
    reasons: str
    last_assigned: datetime | None = None


def amount_band(amount: Decimal | None) -> tuple[Decimal, Decimal] | None:
    if amount is None:
        return None
    for low, high in zip(AMOUNT_BANDS, AMOUNT_BANDS[1:]):
        if low <= amount < high:
            return low, high
    return None


def _band_label(band: tuple[Decimal, Decimal] | None, currency: str) -> str | None:
    if band is None:
        return None
    low, high = band
    return f"{currency} {low:,.0f}+" if high >= AMOUNT_BANDS[-1] else f"{currency} {low:,.0f}–{high:,.0f}"


def confident_rate(wins: float, closed: float, z: float = CONFIDENCE_Z) -> float:
    """The Wilson lower bound of a win rate: 1 of 1 is weaker evidence than 40 of 60."""
    if closed <= 0:
        return 0.0
    p = wins / closed
    z2 = z * z
    centre = p + z2 / (2 * closed)
    spread = z * math.sqrt(p * (1 - p) / closed + z2 / (4 * closed * closed))
    return max(0.0, (centre - spread) / (1 + z2 / closed))


def rank(candidates: Sequence[Candidate], weights: AssignmentConfig, now: datetime, *, similar_label: str, currency: str) -> list[Suggestion]:
    """Available reps, best first. Pure: the numbers come in, the order and the reasons come out."""
    available = [c for c in candidates if c.away_until is None or c.away_until <= now]
    if not available:
        return []
    closed = sum(c.record.closed for c in available if c.record)
    won = sum(c.record.won for c in available if c.record)
    prior = won / closed if closed else DEFAULT_WIN_RATE
    weighted_won = sum(c.record.weighted_won for c in available if c.record)
    team_cycle = sum(c.record.weighted_cycle_days for c in available if c.record) / weighted_won if weighted_won else None
    average_open = sum(c.load.open_count for c in available) / len(available)
    average_weighted = sum(c.load.weighted_open_amount for c in available) / len(available)
    total_weight = weights.win_rate + weights.cycle + weights.load
    suggestions = []
    for candidate in available:
        record, load = candidate.record, candidate.load
        # The team's rate counts as PRIOR_STRENGTH closed deals of evidence, then the bound discounts thin records.
        wins = (record.weighted_won if record else 0) + PRIOR_STRENGTH * prior
        closed_weight = (record.weighted_closed if record else 0) + PRIOR_STRENGTH
        win_rate = wins / closed_weight
        trusted_rate = confident_rate(wins, closed_weight)
        rep_cycle = None
        if team_cycle is not None:
            rep_cycle = ((record.weighted_cycle_days if record else 0) + PRIOR_STRENGTH * team_cycle) / ((record.weighted_won if record else 0) + PRIOR_STRENGTH)
        speed = team_cycle / (team_cycle + rep_cycle) if team_cycle and rep_cycle else 0.5
        ratios = [load.open_count / average_open if average_open else 0.0,
                  float(load.weighted_open_amount / average_weighted) if average_weighted else 0.0]
        load_ratio = sum(ratios) / len(ratios) + 0.1 * load.overdue_follow_ups
        lightness = 1 / (1 + load_ratio)
        score = (weights.win_rate * trusted_rate + weights.cycle * speed + weights.load * lightness) / total_weight if total_weight else 0.0

        reasons = []
        if record and record.similar_closed:
            reasons.append(f"won {record.similar_won} of {record.similar_closed} {similar_label} deals")
        elif record and record.closed:
            reasons.append(f"won {record.won} of {record.closed} deals, none quite like this one")
        else:
            reasons.append(f"no closed deals yet (counted at the team's {prior:.0%})")
        if load.open_count < average_open:
            reasons.append(f"{load.open_count} open deals, below the team average of {average_open:.0f}")
        elif load.open_count > average_open:
            reasons.append(f"{load.open_count} open deals, above the team average of {average_open:.0f}")
        else:
            reasons.append(f"{load.open_count} open deals, the team average")
        if load.overdue_follow_ups:
            reasons.append(f"{load.overdue_follow_ups} overdue follow-up{'s' if load.overdue_follow_ups > 1 else ''}")
        if record and record.weighted_won and team_cycle:
            reasons.append(f"wins in {record.weighted_cycle_days / record.weighted_won:.0f} days on average (team {team_cycle:.0f})")
        suggestions.append(Suggestion(candidate.user_id, round(score, 4), win_rate, "; ".join(reasons), candidate.last_assigned))
    # Best score first; among equal scores the rep assigned longest ago first (round robin).
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(suggestions, key=lambda s: (-round(s.score, 3), s.last_assigned or epoch, s.user_id))


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
            workspace = queries.get_workspace(uow.session, team_id)
            weights = AssignmentConfig(**workspace.assignment) if workspace and workspace.assignment else AssignmentConfig()
            currency = workspace.currency if workspace else "USD"
            band = amount_band(opp.amount) if opp.currency == currency else None
            similar = analytics.Similar(opp.industry, opp.region, opp.company_size, band)
            reps = tuple(team.member_ids)
            records = {r.owner_id: r for r in analytics.rep_records(uow.session, team_id, reps, now - timedelta(days=weights.window_days), similar, currency)}
            loads = {l.owner_id: l for l in analytics.rep_loads(uow.session, team_id, reps, now)}
            away = queries.away_until(uow.session, team_id, reps)
            last = queries.last_assigned(uow.session, team_id, reps)
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
            row = queries.opportunity_by_id(uow.session, team_id, opp_id)
            if row is None:
                raise NotFound("That opportunity doesn't exist in this workspace.")
            return to_view(row)

    def _set_owner(self, actor: Actor, opp: OpportunityView, user_id: str, how: str) -> OpportunityView:
        now = self.clock.now()
        with self.uow(write=True) as uow:
            row = queries.opportunity_by_id(uow.session, actor.team_id, opp.id, for_update=True)
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
            row = queries.opportunity_by_id(uow.session, actor.team_id, opp.id, for_update=True)
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
            note = f"{opp.ref} {ui.escape(opp.name)} was assigned automatically to <@{chosen.user_id}>: {chosen.reasons}."
            self._tell(team.manager_id, None, note, [{"type": "section", "text": ui.mrkdwn(note)}])
            return f"{opp.ref} was assigned to <@{chosen.user_id}>."
        text, message = ui.suggestions_message(opp, suggestions[:3], requested_by=requested_by, team_name=team.name)
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
            row = queries.member(uow.session, actor.team_id, user_id) or Member(team_id=actor.team_id, user_id=user_id, name=profile.name if profile else "")
            row.away_until = until
            uow.session.add(row)
            uow.commit()
        return until
