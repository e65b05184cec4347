"""The workspace: set up from the configuration file, edited with /opp config; who is asking (the
request context, with the Slack profile cache behind it)."""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.deals.forms import FormChoices, currencies_for
from bot.domain.clock import Clock
from bot.domain.languages import language_of
from bot.domain.stages import ADMINS_ONLY, resolve_pipeline
from bot.domain.timezones import zone
from bot.domain.values import (
    MAX_PIPELINES,
    N_,
    Actor,
    Context,
    Forbidden,
    Installation,
    Invalid,
    NotFound,
    Pipeline,
    Pipelines,
    WorkspaceView,
)
from bot.slack.gateway import SLACK_UNREACHABLE, SlackGateway, slack_error
from bot.workspace.config import (
    AssignmentConfig,
    PipelineConfig,
    StageConfig,
    TeamConfig,
    WorkspaceConfig,
)
from bot.workspace.forms import NewPipeline, SettingsProblem, WorkspaceSettings
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.models import Member

log = logging.getLogger(__name__)

PROFILE_TTL = timedelta(hours=24)


class Unknown(enum.Enum):
    """A profile Slack didn't answer for, with nothing cached."""

    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN
NOT_SERVED = N_("oppbot serves its own workspace only; nothing was changed.")
CHANGED_WHILE_OPEN = N_("The stage model changed while the form was open; run /opp config again.")


@dataclass(frozen=True)
class ConfigForm:
    """What /opp config shows: one pipeline's settings, the active pipelines to pick from, the workspace (its rates)."""

    pipeline: Pipeline
    choices: tuple[Pipeline, ...]
    workspace: WorkspaceView


def config_digest(config: WorkspaceConfig) -> str:
    data = asdict(config)
    data.pop("source", None)
    for key, default in (("exchange_rates", ()), ("language", "en")):
        if data[key] == default or data[key] == list(default or []):
            data.pop(key)  # a file that doesn't set it keeps the digest it had before the key existed, and isn't re-applied
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def profile_is_fresh(profile: Member | None, now: datetime) -> bool:
    return profile is not None and profile.fetched_at is not None and now - profile.fetched_at < PROFILE_TTL


class Workspaces:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, config: WorkspaceConfig, slack: SlackGateway) -> None:
        self.uow = uow
        self.clock = clock
        self.config = config
        self.slack = slack
        self._config_digest = config_digest(config)
        self._config_is_file = config.source != WorkspaceConfig().source
        self._synced: set[str] = set()
        self._sync_lock = threading.Lock()
        # Who the bot token belongs to (auth.test at start-up, `sign_in`); None in offline commands.
        self.installation: Installation | None = None

    def sign_in(self, installation: Installation) -> None:
        """Serve this workspace (or organisation) from now on: seed it, re-apply a changed configuration file."""
        self.installation = installation
        self.ensure_workspace(installation.team_id)
        for team_id in self.team_ids():
            self.ensure_workspace(team_id)

    def serves(self, team_id: str) -> bool:
        """Whether a workspace id is one this bot token serves (any, before sign-in: offline commands read the database)."""
        installation = self.installation
        return installation is None or installation.is_enterprise_install or team_id == installation.team_id

    # ----- set-up from the configuration file ----------------------------------------------------

    def ensure_workspace(self, team_id: str) -> None:
        """Create the workspace from the configuration the first time it is seen, or re-apply a changed file."""
        if team_id in self._synced:
            return
        with self._sync_lock:
            if team_id in self._synced:
                return
            for attempt in range(3):
                try:
                    with self.uow(write=True) as uow:
                        # The database holds the live settings (/opp config edits them); only a changed
                        # configuration file, never the built-in defaults, overrides them.
                        outcome = uow.workspaces.apply_config(team_id, self.config, self._config_digest, self.clock.now(),
                                                              overwrite=self._config_is_file)
                        uow.commit()
                    if outcome == "created":
                        log.info("seeded workspace %s from %s", team_id, self.config.source)  # committed
                    break
                except IntegrityError:
                    # another instance seeded the same workspace at the same moment: read theirs
                    if attempt == 2:
                        raise
            self._synced.add(team_id)

    def team_ids(self) -> list[str]:
        """The workspaces in the database that this bot token serves (a database once shared with another
        token, or a request an older version let in, may hold others: they get nothing)."""
        with self.uow() as uow:
            return [team_id for team_id in uow.workspaces.all_team_ids() if self.serves(team_id)]

    # ----- who is asking ------------------------------------------------------------------------

    def context(self, team_id: str, user_id: str, *, within_ack: bool = False) -> Context:
        """The actor, their workspace and its stage model, in one read (plus, once a day per person,
        users.info and a write to cache the profile; never `within_ack`, where Slack must not be waited on)."""
        if not self.serves(team_id):
            raise Forbidden(NOT_SERVED)
        self.ensure_workspace(team_id)
        with self.uow() as uow:
            workspace = uow.workspaces.view(team_id)
            pipelines = uow.workspaces.pipelines(team_id)
            profile = uow.workspaces.member(team_id, user_id)
            managed = uow.teams.managed_user_ids(team_id, user_id)
            team_pipeline_id = uow.teams.pipeline_of(team_id, user_id)
        assert workspace is not None
        if not within_ack and not profile_is_fresh(profile, self.clock.now()):
            refreshed = self._refresh_profile(team_id, user_id, profile)
            profile = refreshed if isinstance(refreshed, Member) else None
        is_admin = user_id in workspace.admins or bool(profile and profile.is_slack_admin)
        actor = Actor(team_id=team_id, user_id=user_id, is_admin=is_admin, managed_user_ids=frozenset(managed))
        return Context(actor=actor, workspace=workspace, pipelines=pipelines, timezone=(profile.tz if profile and profile.tz else workspace.timezone),
                       language=language_of(profile.locale if profile else None, workspace.language), team_pipeline_id=team_pipeline_id)

    def profile(self, team_id: str, user_id: str, *, quick: bool = False) -> Member | None | Unknown:
        """The user's cached Slack profile, refreshed from users.info once a day; None if Slack has no such
        user; UNKNOWN when Slack didn't answer and nothing is cached."""
        with self.uow() as uow:
            cached = uow.workspaces.member(team_id, user_id)
        if profile_is_fresh(cached, self.clock.now()):
            return cached
        return self._refresh_profile(team_id, user_id, cached, quick=quick)

    def _refresh_profile(self, team_id: str, user_id: str, cached: Member | None, *, quick: bool = False) -> Member | None | Unknown:
        try:
            info = self.slack.user_info(user_id, quick=quick)
        except SlackApiError as exc:
            log.warning("users.info %s failed (%s); using what is cached", user_id, slack_error(exc))
            return cached if cached is not None else UNKNOWN
        except SLACK_UNREACHABLE as exc:
            log.warning("users.info %s: Slack didn't answer (%s); using what is cached", user_id, exc.__class__.__name__)
            return cached if cached is not None else UNKNOWN
        if info is None:
            return None
        with self.uow(write=True) as uow:
            row = uow.workspaces.save_profile(team_id, user_id, info, self.clock.now())
            try:
                uow.commit()
            except IntegrityError:
                pass  # a concurrent request cached the same profile
            return row

    def timezone_of(self, team_id: str, user_id: str) -> str:
        """The user's Slack time zone, else the workspace's."""
        profile = self.profile(team_id, user_id)
        if isinstance(profile, Member) and profile.tz:
            return profile.tz
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
        return workspace.timezone if workspace else "UTC"

    def check_owner(self, team_id: str, owner_id: str) -> str | None:
        """Why this user can't own an opportunity, or None when they can.

        Asked on the way to a form's ack too, so it never waits on Slack for long: one quick users.info
        when the profile isn't cached fresh. When Slack doesn't answer and nothing is cached, the person
        is taken as Slack's own user picker offered them.
        """
        profile = self.profile(team_id, owner_id, quick=True)
        if profile is UNKNOWN:
            return None
        if profile is None:
            return N_("I can't find that person in this workspace.")
        assert isinstance(profile, Member)
        if profile.is_bot:
            return N_("A bot can't own an opportunity; pick a person.")
        if profile.is_deleted:
            return N_("That person's account is deactivated; pick someone else.")
        return None

    @staticmethod
    def form_choices(ctx: Context, pipeline_id: int | None = None) -> FormChoices:
        """The New opportunity form's choices: the stages of the pipeline picked in it (`pipeline_id`, when it is an
        active one), else of the actor's home pipeline (else the first active); the pipelines to pick from when there are several."""
        active = ctx.pipelines.active
        home = ctx.home_pipeline if ctx.home_pipeline.active else ctx.pipelines.default
        pipeline = next((p for p in active if p.id == pipeline_id), home)
        return FormChoices(stages=pipeline, currencies=currencies_for(ctx.workspace.currency), industries=ctx.workspace.industries,
                           regions=ctx.workspace.regions, company_sizes=ctx.workspace.company_sizes,
                           pipelines=active if len(active) > 1 else ())

    # ----- /opp config ----------------------------------------------------------------------------

    @staticmethod
    def settings_form(ctx: Context, name: str | None = None, *, pipeline_id: int | None = None,
                      shown_stages: tuple[int, ...] | None = None) -> ConfigForm:
        """What the /opp config modal shows: admins only. The pipeline picked in the form (`pipeline_id`), else the one
        named (`/opp config Renewals`: its name ignoring case, else a unique start or part of it), else the admin's own.
        `shown_stages`: the stages a submitted form showed; a stage added, retired or reordered since is refused
        (update_settings checks it again in its transaction)."""
        if not ctx.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        choices = ctx.pipelines.active
        if pipeline_id is not None:
            chosen = ctx.pipelines.get(pipeline_id)
            if chosen is None or not chosen.active:
                raise Invalid(CHANGED_WHILE_OPEN)
        elif name and name.strip():
            chosen = resolve_pipeline(name, choices)
        else:
            chosen = ctx.home_pipeline if ctx.home_pipeline.active else ctx.pipelines.default
        if shown_stages is not None and shown_stages != tuple(s.id for s in chosen.stages):
            raise Invalid(CHANGED_WHILE_OPEN)
        return ConfigForm(chosen, choices, ctx.workspace)

    def update_settings(self, ctx: Context, settings: WorkspaceSettings, *, shown_stages: tuple[int, ...] | None = None) -> None:
        """/opp config for one pipeline: admins only; the database holds the live settings from now on. Checks and writes
        in one transaction: the pipeline still as the form showed it (`shown_stages`), its new name no other pipeline's,
        and a retirement refused while a sales team uses the pipeline or it holds open deals."""
        if not ctx.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        with self.uow(write=True) as uow:
            pipelines = uow.workspaces.pipelines(ctx.team_id)
            pipeline = pipelines.get(settings.pipeline_id)
            if pipeline is None or not pipeline.active or (shown_stages is not None and shown_stages != tuple(s.id for s in pipeline.stages)):
                raise Invalid(CHANGED_WHILE_OPEN)
            if settings.name is not None:
                taken = next((p for p in pipelines.all if p.id != pipeline.id and p.name.casefold() == settings.name.casefold()), None)
                if taken is not None:
                    raise SettingsProblem("name", N_("Another pipeline is already named “{name}”; pick another name.") if taken.active else
                                          N_("A retired pipeline is named “{name}”; pick another name (adding a pipeline of that name brings it back)."),
                                          name=taken.name)
            if settings.retire:
                self._check_retirement(uow, ctx.team_id, pipeline, pipelines)
            today = self.clock.now().astimezone(zone(ctx.workspace.timezone)).date()
            if not uow.workspaces.update_settings(ctx.team_id, settings, ctx.user_id, today):
                raise Invalid(CHANGED_WHILE_OPEN)
            uow.commit()
        if settings.retire:
            log.info("%s retired pipeline %s (%s) of %s", ctx.user_id, pipeline.id, pipeline.name, ctx.team_id)
        else:
            log.info("%s changed the settings of pipeline %s (%s) of %s", ctx.user_id, pipeline.id, settings.name or pipeline.name, ctx.team_id)

    @staticmethod
    def _check_retirement(uow: UnitOfWork, team_id: str, pipeline: Pipeline, pipelines: Pipelines) -> None:
        if len(pipelines.active) <= 1:
            raise SettingsProblem("retire", N_("“{name}” is the only pipeline left; it can't be retired."), name=pipeline.name)
        teams = uow.workspaces.teams_of_pipeline(team_id, pipeline.id, is_default=pipeline.id == pipelines.default.id)
        if teams:
            raise SettingsProblem("retire", N_("“{name}” is the pipeline of these sales teams: {teams}. Give them another first "
                                               "(`pipeline = \"…\"` in their [[teams]] of the configuration file), then retire it."),
                                  name=pipeline.name, teams=", ".join(teams))
        open_deals = uow.workspaces.open_deals_in(team_id, pipeline.stage_ids)
        if open_deals:
            raise SettingsProblem("retire", N_("“{name}” still holds open deals ({n}). Close them or move them to another pipeline "
                                               "(`/opp move OPP-12 <pipeline>`) first."), name=pipeline.name, n=open_deals)

    def add_pipeline(self, ctx: Context, new: NewPipeline) -> tuple[Pipeline, bool]:
        """"Add a pipeline": admins only; saved in one transaction, positioned last. A retired pipeline of the same name
        comes back (with its stages, matched by name; new ones added). Returns it, and whether it was a retired one."""
        if not ctx.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        with self.uow(write=True) as uow:
            pipelines = uow.workspaces.pipelines(ctx.team_id)
            same = next((p for p in pipelines.all if p.name.casefold() == new.name.casefold()), None)
            if same is not None and same.active:
                raise SettingsProblem("name", N_("A pipeline is already named “{name}”; pick another name."), name=same.name)
            if len(pipelines.active) >= MAX_PIPELINES:
                raise SettingsProblem("name", N_("A workspace has at most {n} pipelines; retire one first."), n=MAX_PIPELINES)
            pipeline_id = uow.workspaces.add_pipeline(ctx.team_id, new, reactivate=same.id if same is not None else None)
            uow.commit()
            added = uow.workspaces.pipelines(ctx.team_id).get(pipeline_id)
        assert added is not None
        log.info("%s %s pipeline %s (%s, %d stages) of %s", ctx.user_id, "brought back" if same is not None else "added", added.id, added.name,
                 len(added.stages), ctx.team_id)
        return added, same is not None

    def current_config(self, team_id: str) -> WorkspaceConfig:
        """The live settings of a workspace (the database's, after any /opp config edits) as a configuration."""
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
            view = uow.workspaces.view(team_id)
            if workspace is None or view is None:
                raise NotFound(N_("oppbot has no workspace {team_id} in this database."), team_id=team_id)
            pipelines = uow.workspaces.pipelines(team_id)
            members_of = uow.teams.members_by_sales_team(team_id)
            teams = [TeamConfig(team.name, team.manager_id, tuple(sorted(members_of.get(team.id or 0, ()))), team.channel, team.digest_cron,
                                team.timezone, team.auto_assign, team.routing_channel,
                                pipeline=p.name if (p := pipelines.get(team.pipeline_id)) is not None and p.active else None)
                     for team in uow.teams.sales_teams(team_id)]
        return WorkspaceConfig(
            currency=workspace.currency, timezone=workspace.timezone, language=workspace.language, admins=tuple(workspace.admins),
            industries=tuple(workspace.industries), regions=tuple(workspace.regions), company_sizes=tuple(workspace.company_sizes),
            pipelines=tuple(PipelineConfig(p.name, tuple(StageConfig(s.name, s.probability, s.max_days, s.alert_channel, s.alert_usergroup)
                                                         for s in p.stages), p.description, p.won_channel, p.lost_channel)
                            for p in pipelines.active),
            teams=tuple(teams),
            assignment=AssignmentConfig(**workspace.assignment) if workspace.assignment else AssignmentConfig(),
            exchange_rates=view.exchange_rates, source=f"workspace {team_id}",
        )

    def pipelines(self, team_id: str) -> Pipelines:
        self.ensure_workspace(team_id)
        with self.uow() as uow:
            return uow.workspaces.pipelines(team_id)
