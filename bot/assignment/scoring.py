"""Ranking a team's reps for a deal. Pure: the numbers come in, the order and the reasons come out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.domain.languages import ENGLISH
from bot.domain.values import N_
from bot.i18n import Translator, translator
from bot.workspace.config import AssignmentConfig
from storage import analytics

PRIOR_STRENGTH = 5.0  # how many closed deals' worth of evidence the team's rate counts for


CONFIDENCE_Z = 1.28   # a 90% one-sided lower bound (the low end of an 80% interval): a rate is trusted as far as its evidence goes


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
class Reason:
    """A reason as a manager reads it: a catalogue entry (a plural one when `many` is given, for `n`) and its
    values, said in the reader's language with `text(t)`. A value may be a Reason or a Rate itself."""

    message: str
    values: tuple[tuple[str, object], ...] = ()
    many: str | None = None
    n: int = 0

    @staticmethod
    def plural(one: str, many: str, n: int, /, **values: object) -> Reason:
        return Reason(one, tuple(values.items()), many, n)

    @staticmethod
    def of(message: str, /, **values: object) -> Reason:
        return Reason(message, tuple(values.items()))

    def text(self, t: Translator) -> str:
        values = {key: value.text(t) if isinstance(value, (Reason, Rate)) else value for key, value in self.values}
        if self.many is not None:
            return t.plural(self.message, self.many, self.n, **values)
        return t(self.message, **values)


@dataclass(frozen=True)
class Rate:
    """A win rate, written the reader's way ("30%")."""

    rate: float

    def text(self, t: Translator) -> str:
        return t.percent(self.rate)


EN = translator(ENGLISH)


def reasons_text(reasons: Sequence[Reason], t: Translator) -> str:
    return t("; ").join(reason.text(t) for reason in reasons)


@dataclass(frozen=True)
class Suggestion:
    user_id: str
    score: float
    win_rate: float
    reasons: str  # in English, for logs and tests; `reasons_in(t)` for a reader
    last_assigned: datetime | None = None
    because: tuple[Reason, ...] = ()

    def reasons_in(self, t: Translator) -> str:
        return reasons_text(self.because, t) if self.because else self.reasons


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


def record_reason(record: analytics.RepRecord | None, team_rate: float, similar_label: str, pipeline: str = "") -> Reason:
    """The rep's record, as a manager would say it: "won 3 of 4 deals like this one (Manufacturing · APAC)".

    `similar_label` names what "like this one" means (the deal's known attributes, "" when none is known:
    then every closed deal counts as similar and the sentence says just "deals"). `pipeline`: the deal's pipeline
    when the workspace has several, an attribute of similar deals too: "won 4 of 5 Renewals deals like this one (APAC)".
    """
    if record is None or not record.closed:
        return Reason.of(N_("no closed deals yet, so counted at the team's {rate} win rate"), rate=Rate(team_rate))
    if pipeline and record.similar_closed:
        won, closed = record.similar_won, record.similar_closed
        if not similar_label:
            if closed == 1:
                return (Reason.of(N_("won their only {pipeline} deal"), pipeline=pipeline) if won
                        else Reason.of(N_("lost their only {pipeline} deal"), pipeline=pipeline))
            return Reason.of(N_("won {won} of {closed} {pipeline} deals"), won=won, closed=closed, pipeline=pipeline)
        if closed == 1:
            return (Reason.of(N_("won the only {pipeline} deal like this one ({similar})"), pipeline=pipeline, similar=similar_label) if won
                    else Reason.of(N_("lost the only {pipeline} deal like this one ({similar})"), pipeline=pipeline, similar=similar_label))
        return Reason.of(N_("won {won} of {closed} {pipeline} deals like this one ({similar})"), won=won, closed=closed, pipeline=pipeline,
                         similar=similar_label)
    if pipeline:  # none similar in every respect: what "like this one" meant, the pipeline first
        similar_label = " · ".join(x for x in (pipeline, similar_label) if x)
    if not similar_label:
        if record.closed == 1:
            return Reason.of(N_("won their only closed deal")) if record.won else Reason.of(N_("lost their only closed deal"))
        return Reason.of(N_("won {won} of {closed} closed deals"), won=record.won, closed=record.closed)
    like = similar_label
    if record.similar_closed == 1:
        return (Reason.of(N_("won the only deal like this one ({similar})"), similar=like) if record.similar_won
                else Reason.of(N_("lost the only deal like this one ({similar})"), similar=like))
    if record.similar_closed:
        return Reason.of(N_("won {won} of {closed} deals like this one ({similar})"), won=record.similar_won, closed=record.similar_closed, similar=like)
    if record.closed == 1:
        return (Reason.of(N_("won their only closed deal, none like this one ({similar})"), similar=like) if record.won
                else Reason.of(N_("lost their only closed deal, none like this one ({similar})"), similar=like))
    return Reason.of(N_("won {won} of {closed} closed deals, none like this one ({similar})"), won=record.won, closed=record.closed, similar=like)


def load_reason(open_count: int, team_average: float) -> Reason:
    """The rep's open deals against the team's average: "5 open deals, 2 fewer than the team's average"."""
    deals = Reason.of(N_("no open deals")) if open_count == 0 else Reason.plural("{n} open deal", "{n} open deals", open_count)
    difference = team_average - open_count
    if difference == 0:
        return Reason.of(N_("{deals}, the team's average"), deals=deals)
    if abs(difference) < 1:
        return Reason.of(N_("{deals}, about the team's average"), deals=deals)
    # whole deals, half up
    if difference > 0:
        return Reason.of(N_("{deals}, {fewer} fewer than the team's average"), deals=deals, fewer=int(difference + 0.5))
    return Reason.of(N_("{deals}, {more} more than the team's average"), deals=deals, more=int(-difference + 0.5))


def in_days(value: float) -> Reason:
    """A length of time in whole days as people say it: "under a day", "1 day", "12 days"."""
    if value < 1:
        return Reason.of(N_("under a day"))
    return Reason.plural("{n} day", "{n} days", int(value + 0.5))  # half up: 1.5 days reads "2 days"


def speed_reason(rep_days: float, team_days: float) -> Reason:
    """How fast the rep's wins close against the team's: "wins in 12 days on average, the team in 20 days"."""
    return Reason.of(N_("wins in {rep} on average, the team in {team}"), rep=in_days(rep_days), team=in_days(team_days))


def rank(candidates: Sequence[Candidate], weights: AssignmentConfig, now: datetime, *, similar_label: str, currency: str,
         pipeline: str = "") -> list[Suggestion]:
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
    average_weighted = sum((c.load.weighted_open_amount for c in available), Decimal(0)) / len(available)
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

        reasons = [record_reason(record, prior, similar_label, pipeline),
                   load_reason(load.open_count, average_open)]
        if load.overdue_follow_ups:
            reasons.append(Reason.plural("{n} overdue follow-up", "{n} overdue follow-ups", load.overdue_follow_ups))
        if record and record.weighted_won and team_cycle is not None:
            reasons.append(speed_reason(record.weighted_cycle_days / record.weighted_won, team_cycle))
        suggestions.append(Suggestion(candidate.user_id, round(score, 4), win_rate, reasons_text(reasons, EN), candidate.last_assigned, tuple(reasons)))
    # Best score first; among equal scores the rep assigned longest ago first (round robin).
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(suggestions, key=lambda s: (-round(s.score, 3), s.last_assigned or epoch, s.user_id))
