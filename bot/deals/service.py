"""The pipeline core: every rule about opportunities lives here, called by thin Slack listeners.

Writes happen in one unit of work and are committed before anything is sent to Slack; a Slack
failure after the commit is logged and never undoes or half-writes a record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Callable

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.deals.forms import FormChoices, currencies_for
from bot.deals.views import LIST_PAGE_SIZE, ListPage, card_text, opportunity_card
from bot.domain.clock import Clock
from bot.domain.stages import can_view, check_change, resolve_stage
from bot.domain.values import (
    LOST,
    OPEN,
    WON,
    Actor,
    FollowUpView,
    Forbidden,
    HistoryEntry,
    Invalid,
    NotFound,
    OpportunityDraft,
    OpportunityView,
    StageInfo,
    StageModel,
)
from bot.domain.when import next_local
from bot.followups.views import add_follow_up_offer
from bot.home.views import HOME_ITEMS, StageSummary, home_view
from bot.outbox.dispatcher import schedule
from bot.slack.gateway import CANNOT_POST_HERE, SlackGateway, slack_error
from bot.workspace.config import (
    AssignmentConfig,
    StageConfig,
    TeamConfig,
    WorkspaceConfig,
)
from bot.workspace.forms import WorkspaceSettings
from bot.workspace.views import config_modal
from storage import analytics, visits
from storage.db import UnitOfWorkFactory
from storage.models import (
    FollowUp,
    Member,
    Opportunity,
    PostedCard,
    SalesTeam,
    Stage,
    StageChange,
    Workspace,
)

log = logging.getLogger(__name__)

PROFILE_TTL = timedelta(hours=24)
# The App Home's statistics over whole stage histories (stage medians, the team funnel) are reused this long;
# after that, up to HOME_STATS_STALE_LIMIT, the old figures are shown while fresh ones are computed in the background.
HOME_STATS_TTL = timedelta(minutes=15)
HOME_STATS_STALE_LIMIT = timedelta(days=7)
STALLED = "stalled"
STAGE_ALERT = "stage_alert"
OUTCOME_ALERT = "outcome_alert"


@dataclass(frozen=True)
class Delivery:
    """Where a new card went."""

    channel: str
    ts: str
    in_requested_channel: bool


@dataclass(frozen=True)
class CreateResult:
    opportunity: OpportunityView
    delivery: Delivery | None


@dataclass(frozen=True)
class ChangeResult:
    opportunity: OpportunityView
    changed: bool
    message: str


def to_view(opp: Opportunity) -> OpportunityView:
    assert opp.id is not None
    return OpportunityView(**{name: getattr(opp, name) for name in OpportunityView.__dataclass_fields__})


def follow_up_view(row: FollowUp) -> FollowUpView:
    assert row.id is not None
    return FollowUpView(row.id, row.team_id, row.opportunity_id, row.text, row.due_at, row.assignee_id, row.status,
                        row.created_by, row.done_by, row.done_at)


def schedule_stalled_check(session, opp: Opportunity, stages: StageModel, now: datetime) -> None:
    """One nudge per stage entry, due when the deal outstays the stage's max days."""
    stage = stages.by_id(opp.stage_id)
    if stage is None or opp.status != OPEN:
        return
    entered = int(opp.stage_entered_at.timestamp())
    schedule(session, team_id=opp.team_id, kind=STALLED, subject_id=opp.id, dedupe_key=f"stalled:{opp.id}:{entered}",  # type: ignore[arg-type]
             due_at=opp.stage_entered_at + timedelta(days=stage.max_days), now=now, payload={"entered": entered})


def channel_id_of(configured: str | None, previous_configured: str | None, previous_id: str | None) -> str | None:
    """A channel id is its own id; a #name keeps the id it was resolved to until the name changes."""
    if configured is None:
        return None
    if not configured.startswith("#"):
        return configured
    return previous_id if configured == previous_configured else None


def schedule_alerts(session, opp: Opportunity, change: StageChange, stages: StageModel, workspace: Workspace, now: datetime) -> None:
    """Alerts are recorded with the stage change (an outbox row) and sent after commit; one per change."""
    assert change.id is not None
    if change.to_status == OPEN and (change.from_status != OPEN or change.from_stage_id != change.to_stage_id):
        stage = stages.by_id(change.to_stage_id)
        if stage is not None and stage.alert_channel:
            schedule(session, team_id=opp.team_id, kind=STAGE_ALERT, subject_id=change.id, dedupe_key=f"alert:{change.id}", due_at=now, now=now)
    elif change.to_status == WON and workspace.won_channel:
        schedule(session, team_id=opp.team_id, kind=OUTCOME_ALERT, subject_id=change.id, dedupe_key=f"outcome:{change.id}", due_at=now, now=now)
    elif change.to_status == LOST and workspace.lost_channel:
        schedule(session, team_id=opp.team_id, kind=OUTCOME_ALERT, subject_id=change.id, dedupe_key=f"outcome:{change.id}", due_at=now, now=now)


def _stage_info(stage: Stage) -> StageInfo:
    assert stage.id is not None
    return StageInfo(stage.id, stage.position, stage.name, stage.probability, stage.max_days, stage.alert_channel, stage.alert_usergroup,
                     stage.alert_channel_id)


def config_digest(config: WorkspaceConfig) -> str:
    data = asdict(config)
    data.pop("source", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class Pipeline:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, config: WorkspaceConfig, slack: SlackGateway) -> None:
        self.uow = uow
        self.clock = clock
        self.config = config
        self.slack = slack
        self._config_digest = config_digest(config)
        self._config_is_file = config.source != WorkspaceConfig().source
        self._synced: set[str] = set()
        self._home_stats: dict[tuple, tuple[datetime, object]] = {}
        self._home_stats_lock = threading.Lock()
        self._home_stats_refreshing: set[tuple] = set()
        self._home_stats_pool: ThreadPoolExecutor | None = None
        self._sync_lock = threading.Lock()
        # Set by `oppbot run`: run the delivery job now (alerts go out at once rather than at the next
        # tick), or at a given time (a follow-up due before the next tick).
        self.wake_dispatcher: Callable[..., None] = lambda at=None: None

    # ----- workspace configuration -------------------------------------------------------------

    def ensure_workspace(self, team_id: str) -> None:
        """Create the workspace from the configuration the first time it is seen, or re-apply a changed file."""
        if team_id in self._synced:
            return
        with self._sync_lock:
            if team_id in self._synced:
                return
            for attempt in range(3):
                try:
                    self._apply_config(team_id)
                    break
                except IntegrityError:
                    # another instance seeded the same workspace at the same moment: read theirs
                    if attempt == 2:
                        raise
            self._synced.add(team_id)

    def sync_known_workspaces(self) -> None:
        with self.uow() as uow:
            team_ids = uow.workspaces.all_team_ids()
        for team_id in team_ids:
            self.ensure_workspace(team_id)

    def _apply_config(self, team_id: str) -> None:
        config, now = self.config, self.clock.now()
        with self.uow(write=True) as uow:
            session = uow.session
            workspace = uow.workspaces.get_workspace(team_id)
            if workspace is not None and (workspace.config_digest == self._config_digest or not self._config_is_file):
                # The database holds the live settings (/opp config edits them); only a changed
                # configuration file, never the built-in defaults, overrides them.
                return
            if workspace is None:
                workspace = Workspace(team_id=team_id, currency=config.currency, timezone=config.timezone, created_at=now)
                log.info("new workspace %s: seeding it from %s", team_id, config.source)
            workspace.currency = config.currency
            workspace.timezone = config.timezone
            workspace.admins = list(config.admins)
            workspace.industries = list(config.industries)
            workspace.regions = list(config.regions)
            workspace.company_sizes = list(config.company_sizes)
            workspace.won_channel_id = channel_id_of(config.won_channel, workspace.won_channel, workspace.won_channel_id)
            workspace.won_channel = config.won_channel
            workspace.lost_channel_id = channel_id_of(config.lost_channel, workspace.lost_channel, workspace.lost_channel_id)
            workspace.lost_channel = config.lost_channel
            workspace.assignment = asdict(config.assignment)
            workspace.config_digest = self._config_digest
            session.add(workspace)
            session.flush()

            existing = {s.name.lower(): s for s in uow.workspaces.stages(team_id)}
            ranks_before = {s.id: s.position if s.active else None for s in existing.values()}
            for stage in existing.values():
                # park positions out of the way while stages are renumbered
                stage.position += 1000
                stage.active = False
            session.flush()
            for position, wanted in enumerate(config.stages):
                stage = existing.get(wanted.name.lower()) or Stage(team_id=team_id, name=wanted.name, position=position, probability=0, max_days=1)
                stage.name = wanted.name
                stage.position = position
                stage.probability = wanted.probability
                stage.max_days = wanted.max_days
                stage.alert_channel_id = channel_id_of(wanted.alert_channel, stage.alert_channel, stage.alert_channel_id)
                stage.alert_channel = wanted.alert_channel
                stage.alert_usergroup = wanted.alert_usergroup
                stage.active = True
                session.add(stage)
            session.flush()
            if any((s.position if s.active else None) != ranks_before[s.id] for s in existing.values()):
                # the funnel's order changed: which visits count as advanced changes with it
                visits.derive(session, team_id)

            teams = {t.name.lower(): t for t in uow.teams.sales_teams(team_id)}
            wanted_names = {t.name.lower() for t in config.teams}
            for name, team in teams.items():
                if name not in wanted_names:
                    uow.teams.replace_team_members(team_id, team.id, [])  # type: ignore[arg-type]
                    session.delete(team)
            session.flush()
            for wanted_team in config.teams:
                team = teams.get(wanted_team.name.lower()) or SalesTeam(team_id=team_id, name=wanted_team.name, manager_id=wanted_team.manager)
                team.name = wanted_team.name
                team.manager_id = wanted_team.manager
                team.channel = wanted_team.channel
                team.digest_cron = wanted_team.digest
                team.timezone = wanted_team.timezone
                team.auto_assign = wanted_team.auto_assign
                team.routing_channel = wanted_team.routing_channel
                session.add(team)
                session.flush()
                uow.teams.replace_team_members(team_id, team.id, list(wanted_team.members))  # type: ignore[arg-type]
            uow.commit()

    def stage_model(self, team_id: str) -> StageModel:
        self.ensure_workspace(team_id)
        with self.uow() as uow:
            rows = uow.workspaces.stages(team_id)
        return StageModel(
            stages=tuple(_stage_info(s) for s in rows if s.active),
            retired=tuple(_stage_info(s) for s in rows if not s.active),
        )

    def form_choices(self, team_id: str) -> FormChoices:
        self.ensure_workspace(team_id)
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
        assert workspace is not None
        return FormChoices(
            stages=self.stage_model(team_id),
            currencies=currencies_for(workspace.currency),
            industries=tuple(workspace.industries),
            regions=tuple(workspace.regions),
            company_sizes=tuple(workspace.company_sizes),
        )

    def current_config(self, team_id: str) -> WorkspaceConfig:
        """The live settings of a workspace (the database's, after any /opp config edits) as a configuration."""
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
            if workspace is None:
                raise NotFound(f"oppbot has no workspace {team_id} in this database.")
            stages = [s for s in uow.workspaces.stages(team_id) if s.active]
            teams = []
            members_of = uow.teams.members_by_sales_team(team_id)
            for team in uow.teams.sales_teams(team_id):
                members = tuple(sorted(members_of.get(team.id, ())))  # type: ignore[arg-type]
                teams.append(TeamConfig(team.name, team.manager_id, members, team.channel, team.digest_cron, team.timezone,
                                        team.auto_assign, team.routing_channel))
        return WorkspaceConfig(
            currency=workspace.currency, timezone=workspace.timezone, admins=tuple(workspace.admins),
            industries=tuple(workspace.industries), regions=tuple(workspace.regions), company_sizes=tuple(workspace.company_sizes),
            stages=tuple(StageConfig(s.name, s.probability, s.max_days, s.alert_channel, s.alert_usergroup) for s in stages),
            won_channel=workspace.won_channel, lost_channel=workspace.lost_channel, teams=tuple(teams),
            assignment=AssignmentConfig(**workspace.assignment) if workspace.assignment else AssignmentConfig(), source=f"workspace {team_id}",
        )

    def settings_form(self, actor: Actor) -> dict:
        if not actor.is_admin:
            raise Forbidden("Only oppbot admins can change the pipeline settings (ask one to add you to [workspace] admins).")
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(actor.team_id)
        assert workspace is not None
        return config_modal(self.stage_model(actor.team_id), won_channel=workspace.won_channel_id or workspace.won_channel,
                            lost_channel=workspace.lost_channel_id or workspace.lost_channel)

    def update_settings(self, actor: Actor, settings: WorkspaceSettings) -> None:
        """/opp config: admins only; the database holds the live settings from now on."""
        if not actor.is_admin:
            raise Forbidden("Only oppbot admins can change the pipeline settings (ask one to add you to [workspace] admins).")
        with self.uow(write=True) as uow:
            stages = {s.id: s for s in uow.workspaces.stages(actor.team_id)}
            for wanted in settings.stages:
                stage = stages.get(wanted.stage_id)
                if stage is None or not stage.active:
                    raise Invalid("The stage model changed while the form was open; run /opp config again.")
                stage.alert_channel = stage.alert_channel_id = wanted.alert_channel
                stage.alert_usergroup = wanted.alert_usergroup
                stage.probability = wanted.probability
                stage.max_days = wanted.max_days
                uow.session.add(stage)
            workspace = uow.workspaces.get_workspace(actor.team_id)
            assert workspace is not None
            workspace.won_channel = workspace.won_channel_id = settings.won_channel
            workspace.lost_channel = workspace.lost_channel_id = settings.lost_channel
            uow.session.add(workspace)
            uow.commit()
        log.info("%s changed the pipeline settings of %s", actor.user_id, actor.team_id)

    # ----- people -----------------------------------------------------------------------------

    def profile(self, team_id: str, user_id: str) -> Member | None:
        """The user's cached Slack profile, refreshed from users.info once a day; None if Slack has no such user."""
        now = self.clock.now()
        with self.uow() as uow:
            cached = uow.workspaces.member(team_id, user_id)
        if cached is not None and cached.fetched_at is not None and now - cached.fetched_at < PROFILE_TTL:
            return cached
        try:
            info = self.slack.user_info(user_id)
        except SlackApiError as exc:
            log.warning("users.info %s failed (%s); using what is cached", user_id, slack_error(exc))
            return cached
        if info is None:
            return None
        with self.uow(write=True) as uow:
            row = uow.workspaces.member(team_id, user_id) or Member(team_id=team_id, user_id=user_id)
            row.name = str(info.get("real_name") or info.get("name") or "")[:200]
            row.tz = info.get("tz")
            row.is_slack_admin = bool(info.get("is_admin") or info.get("is_owner"))
            row.is_bot = bool(info.get("is_bot")) or user_id == "USLACKBOT"
            row.is_deleted = bool(info.get("deleted"))
            row.fetched_at = now
            uow.session.add(row)
            try:
                uow.commit()
            except IntegrityError:
                pass  # a concurrent request cached the same profile
            return row

    def timezone_of(self, team_id: str, user_id: str) -> str:
        """The user's Slack time zone, else the workspace's."""
        profile = self.profile(team_id, user_id)
        if profile is not None and profile.tz:
            return profile.tz
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
        return workspace.timezone if workspace else "UTC"

    def actor(self, team_id: str, user_id: str) -> Actor:
        self.ensure_workspace(team_id)
        profile = self.profile(team_id, user_id)
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
            managed = uow.teams.managed_user_ids(team_id, user_id)
        assert workspace is not None
        is_admin = user_id in workspace.admins or bool(profile and profile.is_slack_admin)
        return Actor(team_id=team_id, user_id=user_id, is_admin=is_admin, managed_user_ids=frozenset(managed))

    # ----- opportunities ----------------------------------------------------------------------

    def check_owner(self, team_id: str, owner_id: str) -> str | None:
        """Why this user can't own an opportunity, or None when they can."""
        profile = self.profile(team_id, owner_id)
        if profile is None:
            return "I can't find that person in this workspace."
        if profile.is_bot:
            return "A bot can't own an opportunity; pick a person."
        if profile.is_deleted:
            return "That person's account is deactivated; pick someone else."
        return None

    def create(self, actor: Actor, draft: OpportunityDraft) -> OpportunityView:
        """Store the opportunity and its first stage change in one transaction."""
        stages = self.stage_model(actor.team_id)
        if stages.index_of(draft.stage_id) is None:
            raise Invalid("That stage is not one of the workspace's stages.")
        now = self.clock.now()
        with self.uow(write=True) as uow:
            number = uow.deals.next_opportunity_number(actor.team_id)
            opp = Opportunity(
                team_id=actor.team_id, number=number, status=OPEN, created_by=actor.user_id,
                created_at=now, updated_at=now, stage_entered_at=now, **asdict(draft),
            )
            uow.session.add(opp)
            uow.session.flush()
            change = StageChange(
                team_id=actor.team_id, opportunity_id=opp.id, from_stage_id=None, from_status=None,  # type: ignore[arg-type]
                to_stage_id=draft.stage_id, to_status=OPEN, changed_by=actor.user_id, owner_id=draft.owner_id, changed_at=now,
            )
            uow.session.add(change)
            uow.session.flush()
            visits.derive(uow.session, actor.team_id, opportunity_id=opp.id)
            schedule_stalled_check(uow.session, opp, stages, now)
            workspace = uow.workspaces.get_workspace(actor.team_id)
            assert workspace is not None
            schedule_alerts(uow.session, opp, change, stages, workspace, now)
            uow.commit()
            view = to_view(opp)
        log.info("%s created %s in %s", actor.user_id, view.ref, actor.team_id)
        self.wake_dispatcher()
        return view

    def find(self, actor: Actor, *, number: int | None = None, opp_id: int | None = None) -> OpportunityView:
        with self.uow() as uow:
            if number is not None:
                opp = uow.deals.opportunity_by_number(actor.team_id, number)
            elif opp_id is not None:
                opp = uow.deals.opportunity_by_id(actor.team_id, opp_id)
            else:
                opp = None
            view = to_view(opp) if opp is not None else None
        if view is None:
            label = f"OPP-{number}" if number is not None else "That opportunity"
            raise NotFound(f"{label} doesn't exist in this workspace.")
        if not can_view(actor, view):
            raise Forbidden(f"{view.ref} belongs to <@{view.owner_id}>; only its owner, their manager or an admin can see it.")
        return view

    def history_omitted(self, opp: OpportunityView, shown: int) -> int:
        """How many older stage changes `history` left out."""
        with self.uow() as uow:
            return max(0, uow.deals.history_count(opp.team_id, opp.id) - shown)

    def history(self, opp: OpportunityView) -> list[HistoryEntry]:
        """The latest stage changes (at most 200) of an opportunity the caller may see (see `find`)."""
        with self.uow() as uow:
            rows = uow.deals.history(opp.team_id, opp.id)
        return [HistoryEntry(r.from_stage_id, r.from_status, r.to_stage_id, r.to_status, r.changed_by, r.changed_at) for r in rows]

    def move(self, actor: Actor, opp_id: int, *, stage_id: int | None = None, stage_query: str | None = None) -> ChangeResult:
        stages = self.stage_model(actor.team_id)
        if stage_query is not None:
            target = resolve_stage(stage_query, stages)
        else:
            found = stages.by_id(stage_id) if stage_id is not None else None
            if found is None or stages.index_of(found.id) is None:
                raise Invalid("That stage is not one of the workspace's stages.")
            target = found
        return self._transition(actor, opp_id, target.id, OPEN, stages)

    def win(self, actor: Actor, opp_id: int) -> ChangeResult:
        return self._transition(actor, opp_id, None, WON, self.stage_model(actor.team_id))

    def lose(self, actor: Actor, opp_id: int, reason: str) -> ChangeResult:
        return self._transition(actor, opp_id, None, LOST, self.stage_model(actor.team_id), reason=reason)

    def _transition(self, actor: Actor, opp_id: int, to_stage_id: int | None, to_status: str, stages: StageModel, *, reason: str | None = None) -> ChangeResult:
        now = self.clock.now()
        with self.uow(write=True) as uow:
            opp = uow.deals.opportunity_by_id(actor.team_id, opp_id, for_update=True)
            if opp is None:
                raise NotFound("That opportunity doesn't exist in this workspace.")
            before = to_view(opp)
            check_change(actor, before)
            target_stage = to_stage_id if to_stage_id is not None else opp.stage_id
            if opp.status == to_status and opp.stage_id == target_stage:
                where = "Won" if to_status == WON else "Lost" if to_status == LOST else stages.name_of(target_stage)
                if to_status == LOST and reason and reason != opp.lost_reason:
                    opp.lost_reason, opp.updated_at = reason, now
                    uow.session.add(opp)
                    uow.commit()
                    after = to_view(opp)
                    self.refresh_cards(after, stages)
                    return ChangeResult(after, True, f"{after.ref} was already lost; its reason is updated.")
                return ChangeResult(before, False, f"{before.ref} is already in {where}; nothing changed.")
            change = StageChange(
                team_id=actor.team_id, opportunity_id=opp.id, from_stage_id=opp.stage_id, from_status=opp.status,  # type: ignore[arg-type]
                to_stage_id=target_stage, to_status=to_status, changed_by=actor.user_id, owner_id=opp.owner_id, changed_at=now,
            )
            uow.session.add(change)
            uow.session.flush()
            visits.derive(uow.session, actor.team_id, opportunity_id=opp.id)
            if target_stage != opp.stage_id or opp.status != to_status:
                opp.stage_entered_at = now
            opp.stage_id = target_stage
            opp.status = to_status
            opp.lost_reason = reason if to_status == LOST else None
            opp.closed_at = now if to_status in (WON, LOST) else None
            opp.updated_at = now
            uow.session.add(opp)
            schedule_stalled_check(uow.session, opp, stages, now)
            workspace = uow.workspaces.get_workspace(actor.team_id)
            assert workspace is not None
            schedule_alerts(uow.session, opp, change, stages, workspace, now)
            uow.commit()
            after = to_view(opp)
        self.wake_dispatcher()
        if to_status == WON:
            message = f"{after.ref} marked *Won* :tada:"
        elif to_status == LOST:
            message = f"{after.ref} marked *Lost*."
        elif before.status != OPEN:
            message = f"{after.ref} reopened in *{stages.name_of(target_stage)}*."
        else:
            message = f"{after.ref} moved from *{stages.name_of(before.stage_id)}* to *{stages.name_of(target_stage)}*."
        log.info("%s: %s by %s", actor.team_id, message, actor.user_id)
        self.refresh_cards(after, stages)
        return ChangeResult(after, True, message)

    def list_open(self, actor: Actor, *, owner_id: str | None = None, stage_query: str | None = None, offset: int = 0) -> ListPage:
        owner_id = owner_id or actor.user_id
        if owner_id != actor.user_id and not (actor.is_admin or owner_id in actor.managed_user_ids):
            raise Forbidden(f"You can list only your own opportunities{', or your team’s' if actor.is_manager else ''}; <@{owner_id}>'s are not yours to see.")
        stages = self.stage_model(actor.team_id)
        stage_id = resolve_stage(stage_query, stages).id if stage_query else None
        offset = min(max(0, offset), 10**6)
        with self.uow() as uow:
            rows, total = uow.deals.open_opportunities(actor.team_id, owner_id, stage_id=stage_id, offset=offset, limit=LIST_PAGE_SIZE)
            if not rows and total:
                # deals were closed since the page button was drawn: show the last page that exists
                offset = (total - 1) // LIST_PAGE_SIZE * LIST_PAGE_SIZE
                rows, total = uow.deals.open_opportunities(actor.team_id, owner_id, stage_id=stage_id, offset=offset, limit=LIST_PAGE_SIZE)
            items = [to_view(r) for r in rows]
            follow_ups = {k: follow_up_view(v) for k, v in uow.follow_ups.next_follow_ups(actor.team_id, [o.id for o in items]).items()}
        return ListPage(owner_id=owner_id, items=items, total=total, offset=offset, stage_filter=stage_id, follow_ups=follow_ups)

    def due_follow_ups(self, actor: Actor, *, limit: int = 20) -> list[tuple[FollowUpView, OpportunityView]]:
        """The actor's pending follow-ups that are overdue or due before the end of their day."""
        end_of_today = next_local(self.clock.now(), self.timezone_of(actor.team_id, actor.user_id), days=1, at=datetime.min.time())
        with self.uow() as uow:
            rows = uow.follow_ups.pending_follow_ups_of(actor.team_id, actor.user_id, due_before=end_of_today, limit=limit)
            opps = uow.deals.opportunities_by_id(actor.team_id, sorted({r.opportunity_id for r in rows}))
            return [(follow_up_view(r), to_view(opps[r.opportunity_id])) for r in rows if r.opportunity_id in opps]

    def home(self, actor: Actor) -> dict:
        stages = self.stage_model(actor.team_id)
        due = self.due_follow_ups(actor)
        with self.uow() as uow:
            grouped = uow.deals.open_pipeline_by_stage(actor.team_id, actor.user_id)
            rows, total = uow.deals.open_opportunities(actor.team_id, actor.user_id, stage_id=None, offset=0, limit=HOME_ITEMS)
            items = [to_view(r) for r in rows]
            follow_ups = {k: follow_up_view(v) for k, v in uow.follow_ups.next_follow_ups(actor.team_id, [o.id for o in items]).items()}
            now = self.clock.now()
            max_days = {s.id: s.max_days for s in stages.stages + stages.retired}
            mine = analytics.Scope(actor.team_id, owner_ids=(actor.user_id,))
            my_stalled = uow.figures.stalled(mine, now, limit=5, max_days=max_days,
                                           medians=self._cached(("medians", mine), now, uow, lambda session: analytics.stage_medians(session, mine, now)))
            team = None
            if actor.is_manager:
                scope = analytics.Scope(actor.team_id, owner_ids=tuple(sorted(actor.managed_user_ids)))
                # the team's conversion and medians come from one pass over its stage visits
                figures = self._cached(("stage figures", scope), now, uow, lambda session: figures.stage_figures(scope, now))
                team = (list(figures.conversion), uow.figures.stalled(scope, now, limit=5, max_days=max_days,
                                                                    medians=analytics.medians_of(figures.dwell)))
        summaries: dict[int, StageSummary] = {}
        for stage_id, currency, count, amount in grouped:
            summary = summaries.setdefault(stage_id, StageSummary(stage_id, 0, {}))
            summaries[stage_id] = StageSummary(stage_id, summary.count + count, summary.amounts | ({currency: amount} if amount is not None else {}))
        return home_view(actor.user_id, list(summaries.values()), items, total, stages, now, due=due, follow_ups=follow_ups,
                         my_stalled=my_stalled, team=team)

    def _cached(self, key: tuple, now: datetime, uow, compute: Callable[[object], object]):
        """A statistic over whole stage histories (O(history): 30-100 ms for a team at 10^6 deals on
        PostgreSQL), reused for HOME_STATS_TTL (per process). An older one, up to HOME_STATS_STALE_LIMIT,
        is still returned while a background thread computes it afresh, so only the first App Home of a
        rep (team) since start-up waits for it. `compute` takes a session."""
        hit = self._home_stats.get(key)
        age = now - hit[0] if hit is not None else None
        if age is not None and timedelta(0) <= age < HOME_STATS_TTL:
            return hit[1]
        if age is not None and timedelta(0) <= age < HOME_STATS_STALE_LIMIT:
            self._refresh_in_background(key, now, compute)
            return hit[1]
        value = compute(uow.session)
        self._remember_stat(key, now, value)
        return value

    def _remember_stat(self, key: tuple, now: datetime, value: object) -> None:
        with self._home_stats_lock:
            if len(self._home_stats) > 10_000:
                self._home_stats.clear()
            self._home_stats[key] = (now, value)

    def _refresh_in_background(self, key: tuple, now: datetime, compute: Callable[[object], object]) -> None:
        with self._home_stats_lock:
            if key in self._home_stats_refreshing:
                return
            self._home_stats_refreshing.add(key)
            if self._home_stats_pool is None:
                self._home_stats_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="home-stats")
            pool = self._home_stats_pool

        def refresh() -> None:
            try:
                with self.uow() as uow:
                    self._remember_stat(key, now, compute(uow.session))
            except Exception:  # the stale figures stay; the next App Home tries again
                log.exception("refreshing the App Home statistics %s failed", key[0])
            finally:
                with self._home_stats_lock:
                    self._home_stats_refreshing.discard(key)

        pool.submit(refresh)

    # ----- cards ------------------------------------------------------------------------------

    def next_follow_up(self, opp: OpportunityView) -> FollowUpView | None:
        with self.uow() as uow:
            row = uow.follow_ups.next_follow_ups(opp.team_id, [opp.id]).get(opp.id)
            return follow_up_view(row) if row is not None else None

    def collaborators(self, opp: OpportunityView) -> list[tuple[str, int]]:
        with self.uow() as uow:
            return [(c.user_id, c.stage_id) for c in uow.alerts.active_collaborators(opp.team_id, opp.id)]

    def card(self, opp: OpportunityView, stages: StageModel | None = None) -> tuple[str, list[dict]]:
        stages = stages or self.stage_model(opp.team_id)
        return card_text(opp, stages), opportunity_card(opp, stages, self.clock.now(), self.next_follow_up(opp), self.collaborators(opp))

    def publish_card(self, team_id: str, opp: OpportunityView, channel_id: str | None, submitter_id: str) -> Delivery:
        """Post a new card where it was asked for, else DM it to the owner; then tell the submitter where it went."""
        text, blocks = self.card(opp)
        refused: str | None = None
        delivery: Delivery | None = None
        if channel_id:
            try:
                channel, ts = self.slack.post(channel_id, text, blocks)
                delivery = Delivery(channel, ts, True)
            except SlackApiError as exc:
                refused = slack_error(exc)
                if refused not in CANNOT_POST_HERE:
                    log.warning("posting %s to %s failed: %s; sending it by DM", opp.ref, channel_id, refused)
        if delivery is None:
            channel, ts = self.slack.dm(opp.owner_id, text, blocks)
            delivery = Delivery(channel, ts, False)
        self._remember_card(team_id, opp, delivery)
        self._confirm_creation(opp, delivery, channel_id, submitter_id)
        return delivery

    def _confirm_creation(self, opp: OpportunityView, delivery: Delivery, channel_id: str | None, submitter_id: str) -> None:
        if delivery.in_requested_channel:
            note = f"{opp.ref} is created and its card is above."
        else:
            where = f"<@{opp.owner_id}> by DM" if opp.owner_id != submitter_id else "you by DM"
            why = f"I can't post in <#{channel_id}> (invite me with `/invite @oppbot`), so " if channel_id else ""
            note = f"{opp.ref} is created. {why}I sent its card to {where}."
        message = add_follow_up_offer(opp, note + " What is the next step?")
        try:
            if delivery.in_requested_channel:
                self.slack.ephemeral(delivery.channel, submitter_id, note, message)
            elif channel_id or opp.owner_id != submitter_id:
                self.slack.dm(submitter_id, note, message)
        except SlackApiError as exc:
            log.warning("could not tell %s where %s went: %s", submitter_id, opp.ref, slack_error(exc))

    def _remember_card(self, team_id: str, opp: OpportunityView, delivery: Delivery) -> None:
        with self.uow(write=True) as uow:
            uow.session.add(PostedCard(team_id=team_id, opportunity_id=opp.id, channel_id=delivery.channel, ts=delivery.ts, posted_at=self.clock.now()))
            uow.commit()

    def refresh_cards(self, opp: OpportunityView, stages: StageModel) -> None:
        """Update every posted copy of the card. Runs after the change is committed; failures are logged."""
        team_id = opp.team_id
        with self.uow() as uow:
            cards = [(c.id, c.channel_id, c.ts) for c in uow.deals.posted_cards(team_id, opp.id)]
        text, blocks = self.card(opp, stages)
        for card_id, channel, ts in cards:
            try:
                self.slack.update(channel, ts, text, blocks)
            except SlackApiError as exc:
                error = slack_error(exc)
                if error in ("message_not_found", "channel_not_found", "is_archived"):
                    with self.uow(write=True) as uow:
                        uow.deals.forget_posted_card(team_id, card_id)  # type: ignore[arg-type]
                        uow.commit()
                else:
                    log.warning("could not update the card of %s in %s: %s", opp.ref, channel, error)
