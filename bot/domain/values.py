"""Plain values the core passes around: no database session, no Slack client."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.domain.money import ExchangeRate, Rates


def N_(message: str) -> str:
    """Marks a message for the catalogue (bot/i18n) where no translator is at hand; it is translated where it is shown."""
    return message

OPEN, WON, LOST = "open", "won", "lost"
STATUSES = (OPEN, WON, LOST)

# Labels are catalogue entries (shown with t(label)).
FOUND = {"foreseen": N_("Foreseen / planned"), "unexpected": N_("Unexpected")}
REACH = {"strategic": N_("Strategic"), "tactical": N_("Tactical")}
VISIBILITY = {"explicit": N_("Explicit"), "latent": N_("Latent")}
CHANGE_KIND = {"political": N_("Political"), "economic": N_("Economic"), "seasonal": N_("Seasonal"), "time_bound": N_("Time-bound"),
               "other": N_("Other")}
TAG_CHOICES = {"found": FOUND, "reach": REACH, "visibility": VISIBILITY, "change_kind": CHANGE_KIND}


# What a stage may be: the configuration file and the /opp config form check the same limits.
MAX_STAGES = 20
MAX_PIPELINES = 20
PIPELINE_NAME_MAX = 40
PIPELINE_DESCRIPTION_MAX = 300
STAGE_NAME_MAX = 40
PROBABILITY_RANGE = (0, 100)  # percent
MAX_DAYS_RANGE = (1, 3650)  # days in a stage before the deal counts as stalled


@dataclass(frozen=True)
class StageInfo:
    id: int
    position: int
    name: str
    probability: int
    max_days: int
    alert_channel: str | None = None
    alert_usergroup: str | None = None
    alert_channel_id: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """One pipeline of a workspace (new business, renewals, partners…): its open stages in order, its
    won/lost announcement channels. Won and Lost are outcomes, not stages. Retired stages (and a retired
    pipeline) stay readable so history keeps its names."""

    stages: tuple[StageInfo, ...]
    retired: tuple[StageInfo, ...] = ()
    id: int = 0
    name: str = ""
    description: str = ""
    position: int = 0
    won_channel: str | None = None
    won_channel_id: str | None = None
    lost_channel: str | None = None
    lost_channel_id: str | None = None
    active: bool = True

    def by_id(self, stage_id: int) -> StageInfo | None:
        for stage in self.stages + self.retired:
            if stage.id == stage_id:
                return stage
        return None

    def name_of(self, stage_id: int | None) -> str:
        stage = self.by_id(stage_id) if stage_id is not None else None
        return stage.name if stage else "?"

    @property
    def first(self) -> StageInfo:
        return self.stages[0]

    def index_of(self, stage_id: int) -> int | None:
        for i, stage in enumerate(self.stages):
            if stage.id == stage_id:
                return i
        return None

    @property
    def stage_ids(self) -> tuple[int, ...]:
        """Every stage of the pipeline, retired ones included: what puts a deal or a visit in it."""
        return tuple(s.id for s in self.stages + self.retired)


@dataclass(frozen=True)
class Pipelines:
    """A workspace's pipelines: active ones in order, then retired ones. A stage belongs to one pipeline,
    so a deal's pipeline is its stage's; stage lookups by id work across all of them."""

    all: tuple[Pipeline, ...]

    @property
    def active(self) -> tuple[Pipeline, ...]:
        return tuple(p for p in self.all if p.active)

    @property
    def default(self) -> Pipeline:
        """The workspace's first active pipeline: a team without a pipeline of its own uses it."""
        return (self.active or self.all)[0]

    @property
    def several(self) -> bool:
        """Whether readers need to be told which pipeline they are looking at."""
        return len(self.all) > 1

    def get(self, pipeline_id: int | None) -> Pipeline | None:
        return next((p for p in self.all if p.id == pipeline_id), None)

    def of_team(self, pipeline_id: int | None) -> Pipeline:
        """A sales team's pipeline (its `pipeline_id`), else the default; a retired one stays its team's."""
        return self.get(pipeline_id) or self.default

    def of_stage(self, stage_id: int) -> Pipeline:
        for pipeline in self.all:
            if pipeline.by_id(stage_id) is not None:
                return pipeline
        return self.default

    def by_id(self, stage_id: int) -> StageInfo | None:
        for pipeline in self.all:
            if (stage := pipeline.by_id(stage_id)) is not None:
                return stage
        return None

    def name_of(self, stage_id: int | None) -> str:
        stage = self.by_id(stage_id) if stage_id is not None else None
        return stage.name if stage else "?"


@dataclass(frozen=True)
class OpportunityDraft:
    """A validated new opportunity, as the modal produced it."""

    name: str
    customer: str
    owner_id: str
    stage_id: int
    currency: str
    amount: Decimal | None = None
    close_date: date | None = None
    industry: str | None = None
    region: str | None = None
    company_size: str | None = None
    source: str | None = None
    found: str | None = None
    reach: str | None = None
    visibility: str | None = None
    change_kind: str | None = None
    next_step: str | None = None
    notes: str | None = None
    needs_owner: bool = False


@dataclass(frozen=True)
class OpportunityView:
    id: int
    team_id: str
    number: int
    name: str
    customer: str
    amount: Decimal | None
    currency: str
    close_date: date | None
    stage_id: int
    status: str
    owner_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    stage_entered_at: datetime
    lost_reason: str | None = None
    industry: str | None = None
    region: str | None = None
    company_size: str | None = None
    source: str | None = None
    found: str | None = None
    reach: str | None = None
    visibility: str | None = None
    change_kind: str | None = None
    next_step: str | None = None
    notes: str | None = None
    closed_at: datetime | None = None
    needs_owner: bool = False

    @property
    def ref(self) -> str:
        return f"OPP-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


@dataclass(frozen=True)
class FollowUpView:
    id: int
    team_id: str
    opportunity_id: int
    text: str
    due_at: datetime
    assignee_id: str
    status: str
    created_by: str
    done_by: str | None = None
    done_at: datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    from_stage_id: int | None
    from_status: str | None
    to_stage_id: int
    to_status: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class Actor:
    team_id: str
    user_id: str
    is_admin: bool = False
    managed_user_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_manager(self) -> bool:
        return bool(self.managed_user_ids)


def parse_id(value: object) -> int | None:
    """A database id from a button value or form field: ASCII digits only, or None."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value):
        return int(value)
    return None


class OppError(Exception):
    """A refusal or a bad request the user should read; nothing was changed.

    The message is a catalogue entry (marked N_ where it is raised) with its values apart, so that it is
    shown in the reader's language: `exc.text(t)`; str(exc) is the English, for logs.
    """

    def __init__(self, message: str, /, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values

    def __str__(self) -> str:
        return self.message.format(**self.values) if self.values else self.message

    def text(self, t: Callable[..., str]) -> str:
        return t(self.message, **self.values)


class NotFound(OppError):
    pass


def no_such_deal(number: int | None = None) -> NotFound:
    if number is None:
        return NotFound(N_("That opportunity doesn't exist in this workspace."))
    return NotFound(N_("OPP-{number} doesn't exist in this workspace."), number=number)


class Forbidden(OppError):
    pass


class Invalid(OppError):
    pass


@dataclass(frozen=True)
class WorkspaceView:
    """A workspace's settings as one request reads them."""

    team_id: str
    currency: str
    timezone: str
    language: str = "en"  # of channel messages, and of readers whose Slack locale isn't known
    admins: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    company_sizes: tuple[str, ...] = ()
    assignment: dict = field(default_factory=dict)
    exchange_rates: tuple[ExchangeRate, ...] = ()  # into `currency`, by currency code

    @property
    def rates(self) -> Rates:
        return Rates(self.currency, self.exchange_rates)


@dataclass(frozen=True)
class Installation:
    """The one workspace (or Enterprise Grid organisation) the bot token belongs to, as auth.test names it:
    oppbot serves it and nobody else."""

    team_id: str
    name: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False  # installed org-wide: every workspace of the organisation is served

    @classmethod
    def from_auth_test(cls, identity: Mapping[str, Any]) -> Installation:
        return cls(team_id=str(identity.get("team_id") or ""), name=str(identity.get("team") or identity.get("team_id") or ""),
                   enterprise_id=identity.get("enterprise_id") or None, is_enterprise_install=bool(identity.get("is_enterprise_install")))

    def admits(self, team_id: str | None, enterprise_id: str | None) -> bool:
        """Whether a request made in this workspace (or organisation) is one oppbot serves."""
        if self.is_enterprise_install:
            return enterprise_id is not None and enterprise_id == self.enterprise_id
        return team_id is not None and team_id == self.team_id


@dataclass(frozen=True)
class Context:
    """Who is asking, in which workspace, with its pipelines: loaded once per request, in one read."""

    actor: Actor
    workspace: WorkspaceView
    pipelines: Pipelines
    timezone: str  # the actor's Slack time zone, else the workspace's
    language: str = "en"  # the actor's Slack locale's language, else the workspace's (bot.i18n.language_of)
    team_pipeline_id: int | None = None  # the pipeline of the actor's sales team (None: the workspace's first)

    @property
    def home_pipeline(self) -> Pipeline:
        """Where the actor's new deals and figures go unless they name another pipeline: their team's, else the first."""
        return self.pipelines.of_team(self.team_pipeline_id)

    @property
    def team_id(self) -> str:
        return self.actor.team_id

    @property
    def user_id(self) -> str:
        return self.actor.user_id


@dataclass(frozen=True)
class Card:
    """What an opportunity's card shows: the deal, its next follow-up, who took its stage alerts
    (user id, stage id), and, on request, its latest stage changes (with how many older ones were left out)."""

    opportunity: OpportunityView
    next_follow_up: FollowUpView | None = None
    collaborators: tuple[tuple[str, int], ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    history_omitted: int = 0


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str
    manager_id: str
    member_ids: tuple[str, ...]
    channel: str | None
    digest: str
    timezone: str | None
    auto_assign: bool = False
    routing_channel: str | None = None
    pipeline_id: int | None = None  # the team's pipeline (`pipeline = "…"` in its [[teams]]); None: the workspace's first
