"""Ranking a team's reps for a deal. Pure: the numbers come in, the order and the reasons come out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.domain.words import count, days
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


def record_reason(record: analytics.RepRecord | None, team_rate: float, similar_label: str) -> str:
    """The rep's record, as a manager would say it: "won 3 of 4 deals like this one (Manufacturing · APAC)".

    `similar_label` names what "like this one" means (the deal's known attributes, "" when none is known:
    then every closed deal counts as similar and the sentence says just "deals").
    """
    if record is None or not record.closed:
        return f"no closed deals yet, so counted at the team's {team_rate:.0%} win rate"
    like = f" ({similar_label})" if similar_label else ""
    if not similar_label:
        if record.closed == 1:
            return "won their only closed deal" if record.won else "lost their only closed deal"
        return f"won {record.won} of {record.closed} closed deals"
    if record.similar_closed == 1:
        return f"won the only deal like this one{like}" if record.similar_won else f"lost the only deal like this one{like}"
    if record.similar_closed:
        return f"won {record.similar_won} of {record.similar_closed} deals like this one{like}"
    if record.closed == 1:
        return (f"won their only closed deal, none like this one{like}" if record.won
                else f"lost their only closed deal, none like this one{like}")
    return f"won {record.won} of {record.closed} closed deals, none like this one{like}"


def load_reason(open_count: int, team_average: float) -> str:
    """The rep's open deals against the team's average: "5 open deals, 2 fewer than the team's average"."""
    deals = count(open_count, "open deal", "open deals", zero="no open deals")
    difference = team_average - open_count
    if difference == 0:
        return f"{deals}, the team's average"
    if abs(difference) < 1:
        return f"{deals}, about the team's average"
    # whole deals, half up
    if difference > 0:
        fewer = int(difference + 0.5)
        return f"{deals}, {fewer} fewer than the team's average"
    more = int(-difference + 0.5)
    return f"{deals}, {more} more than the team's average"


def speed_reason(rep_days: float, team_days: float) -> str:
    """How fast the rep's wins close against the team's: "wins in 12 days on average, the team in 20 days"."""
    return f"wins in {days(rep_days)} on average, the team in {days(team_days)}"


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

        reasons = [record_reason(record, prior, similar_label),
                   load_reason(load.open_count, average_open)]
        if load.overdue_follow_ups:
            reasons.append(count(load.overdue_follow_ups, "overdue follow-up", "overdue follow-ups"))
        if record and record.weighted_won and team_cycle is not None:
            reasons.append(speed_reason(record.weighted_cycle_days / record.weighted_won, team_cycle))
        suggestions.append(Suggestion(candidate.user_id, round(score, 4), win_rate, "; ".join(reasons), candidate.last_assigned))
    # Best score first; among equal scores the rep assigned longest ago first (round robin).
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(suggestions, key=lambda s: (-round(s.score, 3), s.last_assigned or epoch, s.user_id))
