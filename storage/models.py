"""Tables. Every row carries the Slack workspace's team_id and every query filters on it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Column, Index, Numeric, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from bot.domain.values import OPEN, PIPELINE_DESCRIPTION_MAX, PIPELINE_NAME_MAX, STAGE_NAME_MAX
from storage.types import UTCDateTime


def _ts(nullable: bool = False):
    return Field(sa_type=UTCDateTime, nullable=nullable)


class Workspace(SQLModel, table=True):
    team_id: str = Field(primary_key=True, max_length=32)
    currency: str = Field(max_length=3)
    timezone: str = Field(max_length=64)
    language: str = Field(default="en", max_length=8)  # "en" | "zh-CN": channel messages, and readers whose Slack locale isn't known
    admins: list[str] = Field(default_factory=list, sa_type=JSON)
    industries: list[str] = Field(default_factory=list, sa_type=JSON)
    regions: list[str] = Field(default_factory=list, sa_type=JSON)
    company_sizes: list[str] = Field(default_factory=list, sa_type=JSON)
    last_opp_number: int = Field(default=0)
    assignment: dict = Field(default_factory=dict, sa_type=JSON)
    # {"EUR": {"rate": "7.82", "set_on": "2026-11-30", "set_by": "U0123" | null}}; rates as decimal strings, exact on SQLite
    exchange_rates: dict = Field(default_factory=dict, sa_type=JSON)
    config_digest: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()


class Member(SQLModel, table=True):
    """A Slack user as oppbot knows them; profile data is a cache of users.info."""

    team_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200)
    tz: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)  # users.info's locale, e.g. "zh-CN"
    is_slack_admin: bool = False
    is_bot: bool = False
    is_deleted: bool = False
    fetched_at: datetime | None = _ts(nullable=True)
    away_until: datetime | None = _ts(nullable=True)


class SalesTeam(SQLModel, table=True):
    __tablename__ = "sales_team"
    __table_args__ = (
        UniqueConstraint("team_id", "name"),
        Index("ix_sales_team_manager", "team_id", "manager_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    name: str = Field(max_length=60)
    manager_id: str = Field(max_length=32)
    channel: str | None = Field(default=None, max_length=90)
    digest_cron: str = Field(default="30 8 * * 1-5", max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    auto_assign: bool = False
    routing_channel: str | None = Field(default=None, max_length=90)
    pipeline_id: int | None = Field(default=None, foreign_key="pipeline.id")  # None: the workspace's first pipeline


class SalesTeamMember(SQLModel, table=True):
    """A rep belongs to one sales team (unique per workspace)."""

    __tablename__ = "sales_team_member"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        Index("ix_sales_team_member_team", "team_id", "sales_team_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    sales_team_id: int = Field(foreign_key="sales_team.id", ondelete="CASCADE")
    user_id: str = Field(max_length=32)


class Pipeline(SQLModel, table=True):
    """One of a workspace's pipelines (new business, renewals, partners): its stages, its announcement channels.
    Retired, never deleted, so its deals and their history stay readable."""

    __table_args__ = (UniqueConstraint("team_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    position: int
    name: str = Field(max_length=PIPELINE_NAME_MAX)
    description: str = Field(default="", max_length=PIPELINE_DESCRIPTION_MAX)
    won_channel: str | None = Field(default=None, max_length=90)
    won_channel_id: str | None = Field(default=None, max_length=32)
    lost_channel: str | None = Field(default=None, max_length=90)
    lost_channel_id: str | None = Field(default=None, max_length=32)
    active: bool = True


class Stage(SQLModel, table=True):
    """One open stage of a pipeline. Rows are retired, never deleted, so history keeps its names.
    A deal's pipeline is its stage's."""

    __table_args__ = (
        UniqueConstraint("team_id", "pipeline_id", "name"),
        Index("ix_stage_position", "team_id", "pipeline_id", "active", "position"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    pipeline_id: int = Field(foreign_key="pipeline.id")
    position: int
    name: str = Field(max_length=STAGE_NAME_MAX)
    probability: int
    max_days: int
    alert_channel: str | None = Field(default=None, max_length=90)
    alert_channel_id: str | None = Field(default=None, max_length=32)
    alert_usergroup: str | None = Field(default=None, max_length=32)
    active: bool = True


class Opportunity(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        # /opp list, App Home: an owner's open deals by stage, oldest in stage first.
        Index("ix_opportunity_owner_open", "team_id", "owner_id", "status", "stage_id", "stage_entered_at"),
        # Funnel and pipeline by stage.
        Index("ix_opportunity_stage", "team_id", "status", "stage_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    number: int
    name: str = Field(max_length=150)
    customer: str = Field(max_length=150)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(15, 2))
    currency: str = Field(max_length=3)
    close_date: date | None = None
    stage_id: int = Field(foreign_key="stage.id")
    status: str = Field(default=OPEN, max_length=8)
    lost_reason: str | None = Field(default=None, max_length=500)
    owner_id: str = Field(max_length=32)
    created_by: str = Field(max_length=32)
    industry: str | None = Field(default=None, max_length=60)
    region: str | None = Field(default=None, max_length=60)
    company_size: str | None = Field(default=None, max_length=60)
    source: str | None = Field(default=None, max_length=100)
    found: str | None = Field(default=None, max_length=16)
    reach: str | None = Field(default=None, max_length=16)
    visibility: str | None = Field(default=None, max_length=16)
    change_kind: str | None = Field(default=None, max_length=16)
    next_step: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    stage_entered_at: datetime = _ts()
    closed_at: datetime | None = _ts(nullable=True)
    needs_owner: bool = False


class StageChange(SQLModel, table=True):
    """The history: from, to, who, when; those columns are never updated and rows never deleted.

    `lost_reason` is the reason given for the close a change to Lost records (None on other
    changes, and on closes made before revision 0008 whose reason was already gone); a reason
    given again while the deal stays lost corrects that close's reason. Loss reasons are counted
    from here, so a deal lost, reopened and lost again keeps both reasons.

    `left_at`, `advanced`, `first_visit`, `first_visit_of_owner` and `furthest_visit` are derived from the deal's
    whole history and kept current by storage.visits, so that time in stage, conversion and final
    outcomes are plain GROUP BYs rather than window passes over every stage change.
    """

    __tablename__ = "stage_change"
    __table_args__ = (
        Index("ix_stage_change_opportunity", "team_id", "opportunity_id", "changed_at"),
        Index("ix_stage_change_time", "team_id", "changed_at"),
        # rep funnels: the deals a rep owned at some change
        Index("ix_stage_change_owner", "team_id", "owner_id", "opportunity_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    opportunity_id: int = Field(foreign_key="opportunity.id")
    from_stage_id: int | None = Field(default=None, foreign_key="stage.id")
    from_status: str | None = Field(default=None, max_length=8)
    to_stage_id: int = Field(foreign_key="stage.id")
    to_status: str = Field(max_length=8)
    changed_by: str = Field(max_length=32)
    owner_id: str = Field(max_length=32)
    changed_at: datetime = _ts()
    lost_reason: str | None = Field(default=None, max_length=500)
    left_at: datetime | None = _ts(nullable=True)
    advanced: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    first_visit: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    first_visit_of_owner: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    furthest_visit: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class PostedCard(SQLModel, table=True):
    """Where an opportunity's card was posted, so every copy is updated when it changes."""

    __tablename__ = "posted_card"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "ts"),
        Index("ix_posted_card_opportunity", "team_id", "opportunity_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    opportunity_id: int = Field(foreign_key="opportunity.id")
    channel_id: str = Field(max_length=32)
    ts: str = Field(max_length=32)
    posted_at: datetime = _ts()


PENDING, DONE, CANCELLED = "pending", "done", "cancelled"


class FollowUp(SQLModel, table=True):
    """Something to do about an opportunity, by a time, by someone (the owner unless said otherwise)."""

    __tablename__ = "follow_up"
    __table_args__ = (
        Index("ix_follow_up_opportunity", "team_id", "opportunity_id", "status", "due_at"),
        Index("ix_follow_up_assignee", "team_id", "assignee_id", "status", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    opportunity_id: int = Field(foreign_key="opportunity.id")
    text: str = Field(max_length=500)
    due_at: datetime = _ts()
    assignee_id: str = Field(max_length=32)
    status: str = Field(default=PENDING, max_length=10)
    created_by: str = Field(max_length=32)
    created_at: datetime = _ts()
    done_at: datetime | None = _ts(nullable=True)
    done_by: str | None = Field(default=None, max_length=32)


SENT, FAILED = "sent", "failed"


class Delivery(SQLModel, table=True):
    """Durable outgoing work (reminder DMs, nudges, alerts): claimed by one process, sent, marked sent.

    `dedupe_key` makes scheduling idempotent: the same reminder, nudge or alert is recorded once.
    """

    __table_args__ = (
        UniqueConstraint("team_id", "dedupe_key"),
        Index("ix_delivery_due", "team_id", "status", "due_at"),
        Index("ix_delivery_subject", "team_id", "kind", "subject_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    kind: str = Field(max_length=20)
    subject_id: int
    dedupe_key: str = Field(max_length=200)
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default=PENDING, max_length=10)
    due_at: datetime = _ts()
    scheduled_for: datetime = _ts()
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _ts(nullable=True)
    # Since when what an attempt posted is unknown (set by every claim, cleared once an outcome is
    # known): the next attempt looks in Slack for its messages before posting (bot/slack/gateway.py).
    in_doubt_since: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    channel_id: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = _ts()


class Collaborator(SQLModel, table=True):
    """A colleague who took a stage alert ("Take it"): who, for which stage entry, when; released_at ends it."""

    __table_args__ = (
        Index("ix_collaborator_opportunity", "team_id", "opportunity_id", "released_at"),
        Index("uq_collaborator_active", "team_id", "stage_change_id", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    opportunity_id: int = Field(foreign_key="opportunity.id")
    stage_id: int = Field(foreign_key="stage.id")
    stage_change_id: int = Field(foreign_key="stage_change.id")
    user_id: str = Field(max_length=32)
    taken_at: datetime = _ts()
    released_at: datetime | None = _ts(nullable=True)


class OwnerChange(SQLModel, table=True):
    """Who owned a deal when: every assignment and hand-over, never rewritten."""

    __tablename__ = "owner_change"
    __table_args__ = (
        Index("ix_owner_change_opportunity", "team_id", "opportunity_id", "changed_at"),
        Index("ix_owner_change_to", "team_id", "to_owner", "changed_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    opportunity_id: int = Field(foreign_key="opportunity.id")
    from_owner: str | None = Field(default=None, max_length=32)
    to_owner: str = Field(max_length=32)
    changed_by: str = Field(max_length=32)
    how: str = Field(max_length=16)  # "assigned", "automatic", "handed_back"
    changed_at: datetime = _ts()
