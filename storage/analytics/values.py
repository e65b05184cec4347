"""Whose deals a figure covers (`Scope`, `Similar`) and the frozen result types of the figures.

Conventions
- `Scope` says whose deals count: always one workspace (team_id); optionally some owners and an
  industry / region / company size. Owners are the opportunity's current owner, except in
  `rep_funnels`, which attributes each stage visit to `stage_change.owner_id`, the owner at the time.
- Amounts are summed in one currency (the `currency` argument, normally the workspace's); deals
  in another currency still count in counts, and `other_currency` says how many priced deals were
  left out of the amounts. Amounts are summed as whole cents (exact on SQLite, which keeps NUMERIC
  as REAL); weighted amounts (amount × stage probability / 100) are rounded half-up to the cent.
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


@dataclass(frozen=True)
class Scope:
    """Whose deals a figure covers: one workspace, optionally narrowed. owner_ids None = everyone."""

    team_id: str
    owner_ids: tuple[str, ...] | None = None
    industry: str | None = None
    region: str | None = None
    company_size: str | None = None


@dataclass(frozen=True)
class StagePipeline:
    stage_id: int
    count: int
    amount: Decimal
    weighted_amount: Decimal
    other_currency: int


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
    won_amount: Decimal
    lost_amount: Decimal
    other_currency: int
    rate_by_count: float | None
    rate_by_amount: float | None


@dataclass(frozen=True)
class StageStep:
    stage_id: int
    next_stage_id: int | None  # None: the step from the last stage to Won
    entered: int
    advanced: int
    rate: float | None


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


@dataclass(frozen=True)
class StalledDeal:
    opportunity_id: int
    number: int
    name: str
    owner_id: str
    stage_id: int
    days_in_stage: float
    reason: str  # "max_days" (wins when both apply) or "median"
    max_days: int
    median_days: float | None  # the stage's median visit in this scope; None under MIN_VISITS_FOR_MEDIAN visits


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
    amount: Decimal
    weighted_amount: Decimal
    other_currency: int


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
    key: str
    count: int
    amount: Decimal
    other_currency: int
    weighted_open_amount: Decimal
    won_count: int
    lost_count: int
    win_rate: float | None
    avg_cycle_days: float | None


@dataclass(frozen=True)
class StageFigures:
    dwell: tuple[StageDwell, ...]
    conversion: tuple[StageStep, ...]


# ----- assignment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Similar:
    """What makes a closed deal similar to the one being assigned (None: not known, not compared)."""

    industry: str | None = None
    region: str | None = None
    company_size: str | None = None
    amount_band: tuple[Decimal, Decimal] | None = None  # [low, high) in the workspace currency


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
    weighted_open_amount: Decimal
    overdue_follow_ups: int
