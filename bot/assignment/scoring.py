"""Ranking a team's reps for a deal. Pure: the numbers come in, the order and the reasons come out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.workspace.config import AssignmentConfig
from storage import analytics

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
