"""Whose deals a figure covers (`Scope`, `Similar`) and the frozen result types of the figures.

Conventions
- `Scope` says whose deals count: always one workspace (team_id); optionally some owners and an
  industry / region / company size. Owners are the opportunity's current owner, except in
  `rep_funnels`, which attributes each stage visit to `stage_change.owner_id`, the owner at the time.
- Amounts are `Money` (bot.domain.money): summed per currency as whole cents (exact on SQLite, which
  keeps NUMERIC as REAL), then converted into the workspace currency with its exchange rates (the
  `rates` argument) in Decimal and rounded half-up to the cent once per figure; a currency without a
  rate stays apart as its own subtotal. Weighted amounts are Σ amount × stage probability / 100.
- Days are floats (fractions of a day count). Rates are floats in 0..1, or None when nothing was
  there to divide.
- A stage *visit* starts with a stage change that leaves the deal open in a stage (creation, a
  move, a reopen) and ends at the deal's next change (move, won, lost); a visit with no next
  change is still going and counts until `now`.
- Stages are ordered by `position` among the active ones. Retired stages (kept for history, with
  parked positions) rank nowhere: moves into or out of them are neither advances nor moves back.
- The window arguments `since`/`until` are half-open: since <= t < until.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.domain.money import Money


@dataclass(frozen=True)
class Scope:
    """Whose deals a figure covers: one workspace, optionally narrowed. owner_ids None = everyone.

    `pipeline_id`: the deals now in that pipeline, and of their history only the visits to its stages. Every
    figure that follows deals through stages (funnel, conversion, time in stage, stalled norms, win rate,
    cycle, pipeline by stage, forecast, reports) is computed per pipeline, never across them; None (every
    pipeline) is for what has no stages in it (follow-ups, a rep's load)."""

    team_id: str
    owner_ids: tuple[str, ...] | None = None
    industry: str | None = None
    region: str | None = None
    company_size: str | None = None
    pipeline_id: int | None = None


@dataclass(frozen=True)
class StagePipeline:
    stage_id: int
    count: int
    amount: Money
    weighted_amount: Money


@dataclass(frozen=True)
class ChangedDeal:
    opportunity_id: int
    number: int
    name: str
    owner_id: str
    amount: Decimal | None
    currency: str
    from_stage_id: int | None
    to_stage_id: int
    changed_at: datetime
    lost_reason: str | None = None


@dataclass(frozen=True)
class ChangeList:
    total: int  # deals in this category, even when `deals` was cut to a limit
    deals: tuple[ChangedDeal, ...]


@dataclass(frozen=True)
class Changes:
    new: ChangeList
    advanced: ChangeList
    moved_back: ChangeList
    won: ChangeList
    lost: ChangeList
    reopened: ChangeList


@dataclass(frozen=True)
class WinRate:
    won_count: int
    lost_count: int
    won_amount: Money
    lost_amount: Money
    rate_by_count: float | None
    rate_by_amount: float | None  # over the converted amounts (a currency without a rate is apart, not in the ratio)


@dataclass(frozen=True)
class LostReason:
    reason: str | None  # None: the close has no reason recorded (closes from before the history kept them)
    count: int  # closes to Lost with this reason, each close once


@dataclass(frozen=True)
class StageStep:
    """One step of the funnel (see `FunnelFigures.stage_conversion`): of the deals that reached
    `stage_id`, those that reached `next_stage_id` — or, on the last step, were won."""

    stage_id: int
    next_stage_id: int | None  # None: the step from the last open stage to Won
    reached: int  # deals that reached stage_id
    converted: int  # of them, the deals that reached next_stage_id (the last step: won deals)
    rate: float | None  # converted / reached


@dataclass(frozen=True)
class Funnel:
    """Deals that reached each open stage and the conversion from each to the next, then the
    outcomes: Won and Lost are what became of the deals, not two more stages one after the other.

    steps: one per active stage in position order; steps[i].reached never increases with i, and
    the last step's `converted` is `won`. won, lost: deals of the cohort won or lost now.
    """

    steps: tuple[StageStep, ...]
    won: int
    lost: int


@dataclass(frozen=True)
class StageDwell:
    stage_id: int
    visits: int
    avg_days: float | None
    median_days: float | None
    finished_visits: int
    finished_avg_days: float | None
    finished_median_days: float | None


@dataclass(frozen=True)
class CycleLength:
    count: int
    avg_days: float | None


STALLED_BY_MAX_DAYS, STALLED_BY_NORM = "max_days", "norm"  # StalledDeal.rule


@dataclass(frozen=True)
class StalledDeal:
    """An open deal flagged as stalled, with the rule that flagged it (storage.analytics.stalled)."""

    opportunity_id: int
    number: int
    name: str
    owner_id: str
    stage_id: int
    days_in_stage: int  # whole days in its current stage (at least 1)
    rule: str  # STALLED_BY_MAX_DAYS (reported when both rules apply) or STALLED_BY_NORM
    threshold_days: float  # stalled because days_in_stage exceeds this: max_days, or the multiplier × typical_days
    max_days: int  # the stage's max_days
    typical_days: float | None  # the team's typical (median) completed visit of the stage when usable, else None
    typical_visits: int  # the completed visits typical_days comes from (0 when it is None)


@dataclass(frozen=True)
class Stalled:
    total: int
    deals: tuple[StalledDeal, ...]


@dataclass(frozen=True)
class RepStage:
    stage_id: int
    next_stage_id: int | None
    entered: int
    advanced: int
    rate: float | None
    visits: int
    avg_days: float | None
    finished_visits: int
    finished_avg_days: float | None


@dataclass(frozen=True)
class RepFunnel:
    owner_id: str | None  # None: the whole scope (the team)
    stages: tuple[RepStage, ...]
    stall_stage_id: int | None = None  # where this rep's finished visits exceed the team's by the largest ratio
    stall_ratio: float | None = None


@dataclass(frozen=True)
class RepFunnels:
    team: RepFunnel
    reps: tuple[RepFunnel, ...]


@dataclass(frozen=True)
class ExpectedCloses:
    count: int
    amount: Money
    weighted_amount: Money


@dataclass(frozen=True)
class OverdueFollowUps:
    assignee_id: str
    count: int
    oldest_due_at: datetime


@dataclass(frozen=True)
class DealRef:
    opportunity_id: int
    number: int
    name: str
    owner_id: str
    stage_id: int
    stage_entered_at: datetime


@dataclass(frozen=True)
class OpenWithoutFollowUp:
    total: int
    deals: tuple[DealRef, ...]


@dataclass(frozen=True)
class ReportRow:
    """One group of `/opp report`: the deals created in the period, then the deals closed in it (see `report`)."""

    key: str
    count: int  # deals created in the period
    amount: Money  # their amount
    weighted_open_amount: Money  # of those still open
    won_count: int  # final closes in the period
    lost_count: int
    won_amount: Money
    win_rate: float | None
    avg_cycle_days: float | None  # of the won ones


@dataclass(frozen=True)
class StageFigures:
    dwell: tuple[StageDwell, ...]
    funnel: Funnel


# ----- assignment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Similar:
    """What makes a closed deal similar to the one being assigned (None: not known, not compared)."""

    industry: str | None = None
    region: str | None = None
    company_size: str | None = None
    amount_band: tuple[Decimal, Decimal] | None = None  # [low, high) in the workspace currency
    pipeline_id: int | None = None  # the deal's pipeline: a close now in it is similar in that respect


@dataclass(frozen=True)
class RepRecord:
    owner_id: str
    closed: int            # deals closed in the window, any kind
    won: int
    similar_closed: int    # closed deals matching every known attribute
    similar_won: int
    weighted_closed: float  # Σ similarity (0..1) over closed deals
    weighted_won: float
    weighted_cycle_days: float  # Σ similarity × days to win, over won deals


@dataclass(frozen=True)
class RepLoad:
    owner_id: str
    open_count: int
    weighted_open_amount: Decimal  # in the workspace currency; deals in a currency without a rate are counted, not summed
    overdue_follow_ups: int
