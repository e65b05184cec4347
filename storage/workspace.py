"""Workspace queries and writes: its settings, its stage model, its sales teams as configured, member profiles."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select
from sqlmodel import Session

from bot.domain.languages import ENGLISH, language_of
from bot.domain.money import ExchangeRate, read_rate
from bot.domain.values import OPEN, Pipeline, Pipelines, StageInfo, WorkspaceView
from storage import visits
from storage.models import Member, Opportunity, SalesTeam, SalesTeamMember, Stage, Workspace
from storage.models import Pipeline as PipelineRow

if TYPE_CHECKING:
    from bot.workspace.config import StageConfig, WorkspaceConfig
    from bot.workspace.forms import NewPipeline, WorkspaceSettings


def channel_id_of(configured: str | None, previous_configured: str | None, previous_id: str | None) -> str | None:
    """A channel id is its own id; a #name keeps the id it was resolved to until the name changes."""
    if configured is None:
        return None
    if not configured.startswith("#"):
        return configured
    return previous_id if configured == previous_configured else None


def stage_info(stage: Stage) -> StageInfo:
    assert stage.id is not None
    return StageInfo(stage.id, stage.position, stage.name, stage.probability, stage.max_days, stage.alert_channel, stage.alert_usergroup,
                     stage.alert_channel_id)


def pipeline_value(row: PipelineRow, stages: list[Stage]) -> Pipeline:
    assert row.id is not None
    return Pipeline(stages=tuple(stage_info(s) for s in stages if s.active), retired=tuple(stage_info(s) for s in stages if not s.active),
                    id=row.id, name=row.name, description=row.description, position=row.position, won_channel=row.won_channel,
                    won_channel_id=row.won_channel_id, lost_channel=row.lost_channel, lost_channel_id=row.lost_channel_id, active=row.active)


def workspace_view(workspace: Workspace) -> WorkspaceView:
    return WorkspaceView(
        team_id=workspace.team_id, currency=workspace.currency, timezone=workspace.timezone, language=workspace.language,
        admins=tuple(workspace.admins),
        industries=tuple(workspace.industries), regions=tuple(workspace.regions), company_sizes=tuple(workspace.company_sizes),
        assignment=dict(workspace.assignment or {}),
        exchange_rates=exchange_rates_of(workspace),
    )


def exchange_rates_of(workspace: Workspace) -> tuple[ExchangeRate, ...]:
    """The stored rates, by currency code; an entry that no longer reads as a rate is left out rather than guessed."""
    rates = []
    for currency, entry in sorted((workspace.exchange_rates or {}).items()):
        rate = read_rate(entry.get("rate")) if isinstance(entry, dict) else None
        try:
            set_on = date.fromisoformat(str(entry.get("set_on"))) if isinstance(entry, dict) else None
        except ValueError:
            set_on = None
        if rate is not None and set_on is not None:
            rates.append(ExchangeRate(currency, rate, set_on))
    return tuple(rates)


def stored_rates(rates: tuple[ExchangeRate, ...], set_by: dict[str, str | None]) -> dict:
    return {r.currency: {"rate": format(r.rate, "f"), "set_on": r.set_on.isoformat(), "set_by": set_by.get(r.currency)} for r in rates}


class WorkspaceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_workspace(self, team_id: str) -> Workspace | None:
        return self.session.get(Workspace, team_id)

    def view(self, team_id: str) -> WorkspaceView | None:
        workspace = self.get_workspace(team_id)
        return workspace_view(workspace) if workspace is not None else None

    def all_team_ids(self) -> list[str]:
        return list(self.session.scalars(select(Workspace.team_id)))

    def stages(self, team_id: str) -> list[Stage]:
        """Every stage of every pipeline: active ones in position order, then retired ones."""
        return list(self.session.scalars(select(Stage).where(Stage.team_id == team_id)
                                         .order_by(Stage.active.desc(), Stage.position, Stage.id)))

    def pipeline_rows(self, team_id: str) -> list[PipelineRow]:
        return list(self.session.scalars(select(PipelineRow).where(PipelineRow.team_id == team_id)
                                         .order_by(PipelineRow.active.desc(), PipelineRow.position, PipelineRow.id)))

    def pipelines(self, team_id: str) -> Pipelines:
        """The workspace's pipelines with their stages, in one statement."""
        rows = self.session.execute(
            select(PipelineRow, Stage).join(Stage, Stage.pipeline_id == PipelineRow.id, isouter=True)
            .where(PipelineRow.team_id == team_id)
            .order_by(PipelineRow.active.desc(), PipelineRow.position, PipelineRow.id, Stage.active.desc(), Stage.position, Stage.id)
        ).all()
        stages: dict[int, list[Stage]] = {}
        found: dict[int, PipelineRow] = {}
        for pipeline, stage in rows:
            found.setdefault(pipeline.id, pipeline)
            if stage is not None:
                stages.setdefault(pipeline.id, []).append(stage)
        return Pipelines(tuple(pipeline_value(row, stages.get(row.id or 0, [])) for row in found.values()))

    def member(self, team_id: str, user_id: str) -> Member | None:
        return self.session.get(Member, (team_id, user_id))

    def reader_language(self, team_id: str, user_id: str) -> str:
        """The language of a message to this person: their cached Slack locale's, else the workspace's."""
        member = self.member(team_id, user_id)
        workspace = self.get_workspace(team_id)
        return language_of(member.locale if member else None, workspace.language if workspace else ENGLISH)

    def save_profile(self, team_id: str, user_id: str, info: dict, now: datetime) -> Member:
        row = self.member(team_id, user_id) or Member(team_id=team_id, user_id=user_id)
        row.name = str(info.get("real_name") or info.get("name") or "")[:200]
        row.tz = info.get("tz")
        row.locale = str(info["locale"])[:16] if info.get("locale") else row.locale  # users.info(include_locale=True)
        row.is_slack_admin = bool(info.get("is_admin") or info.get("is_owner"))
        row.is_bot = bool(info.get("is_bot")) or user_id == "USLACKBOT"
        row.is_deleted = bool(info.get("deleted"))
        row.fetched_at = now
        self.session.add(row)
        return row

    def set_away(self, team_id: str, user_id: str, until: datetime | None, name: str) -> None:
        row = self.member(team_id, user_id) or Member(team_id=team_id, user_id=user_id, name=name)
        row.away_until = until
        self.session.add(row)

    def update_settings(self, team_id: str, settings: WorkspaceSettings, user_id: str, today: date) -> bool:
        """/opp config's edits; False when a stage it names is gone (the model changed while the form was open).
        A rate keeps the day it was set (and by whom) until its value changes; a new or changed one is set `today` by `user_id`."""
        stages = {s.id: s for s in self.stages(team_id) if s.pipeline_id == settings.pipeline_id}
        pipeline = self.session.get(PipelineRow, settings.pipeline_id)
        if pipeline is None or pipeline.team_id != team_id:
            return False
        for wanted in settings.stages:
            stage = stages.get(wanted.stage_id)
            if stage is None or not stage.active:
                return False
            stage.alert_channel = stage.alert_channel_id = wanted.alert_channel
            stage.alert_usergroup = wanted.alert_usergroup
            stage.probability = wanted.probability
            stage.max_days = wanted.max_days
            self.session.add(stage)
        pipeline.won_channel = pipeline.won_channel_id = settings.won_channel
        pipeline.lost_channel = pipeline.lost_channel_id = settings.lost_channel
        if settings.name is not None:
            pipeline.name = settings.name
        if settings.description is not None:
            pipeline.description = settings.description
        if settings.retire:
            # retired with its stages, never deleted: its deals and their history stay readable
            pipeline.active = False
            for stage in stages.values():
                stage.active = False
                self.session.add(stage)
        self.session.add(pipeline)
        workspace = self.get_workspace(team_id)
        assert workspace is not None
        before = {r.currency: r for r in exchange_rates_of(workspace)}
        stored = dict(workspace.exchange_rates or {})
        rates, set_by = [], {}
        for currency, rate in settings.exchange_rates:
            kept = before.get(currency)
            if kept is not None and kept.rate == rate:
                rates.append(kept)
                set_by[currency] = (stored.get(currency) or {}).get("set_by")
            else:
                rates.append(ExchangeRate(currency, rate, today))
                set_by[currency] = user_id
        workspace.exchange_rates = stored_rates(tuple(rates), set_by)
        self.session.add(workspace)
        return True

    def add_pipeline(self, team_id: str, new: NewPipeline, *, reactivate: int | None = None) -> int:
        """"Add a pipeline": positioned after the active ones, its stages as given; `reactivate`, a retired pipeline
        of the same name, comes back instead (its stages matched by name, as a configuration file would)."""
        rows = self.pipeline_rows(team_id)
        position = max((p.position for p in rows if p.active), default=-1) + 1
        row = next((p for p in rows if p.id == reactivate), None) if reactivate is not None else None
        if row is None:
            row = PipelineRow(team_id=team_id, name=new.name, position=position)
        else:
            for other in rows:  # a retired pipeline may still hold the position
                if other.position == position and other.id != row.id and not other.active:
                    other.position += 1000
                    self.session.add(other)
        row.name = new.name
        row.position = position
        row.description = new.description
        row.won_channel = row.won_channel_id = new.won_channel
        row.lost_channel = row.lost_channel_id = new.lost_channel
        row.active = True
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        self._apply_stages(team_id, row.id, new.stages)
        return row.id

    def teams_of_pipeline(self, team_id: str, pipeline_id: int, *, is_default: bool) -> list[str]:
        """The sales teams whose pipeline this is (theirs by name, or by default when it is the workspace's first)."""
        query = select(SalesTeam.name).where(SalesTeam.team_id == team_id)
        team: Any = SalesTeam
        query = query.where(or_(team.pipeline_id == pipeline_id, team.pipeline_id.is_(None)) if is_default else team.pipeline_id == pipeline_id)
        return sorted(self.session.scalars(query.order_by(SalesTeam.name)))

    def open_deals_in(self, team_id: str, stage_ids: tuple[int, ...]) -> int:
        """How many open deals sit in these stages."""
        if not stage_ids:
            return 0
        deal: Any = Opportunity
        return int(self.session.scalar(select(func.count()).select_from(Opportunity)
                                       .where(deal.team_id == team_id, deal.status == OPEN, deal.stage_id.in_(stage_ids))) or 0)

    def resolve_channels(self, team_id: str, found: dict[str, str]) -> None:
        """Record the ids that #names in the alert rules and outcomes were resolved to."""
        for stage in self.stages(team_id):
            if stage.alert_channel in found:
                stage.alert_channel_id = found[stage.alert_channel]
                self.session.add(stage)
        for pipeline in self.pipeline_rows(team_id):
            if pipeline.won_channel in found:
                pipeline.won_channel_id = found[pipeline.won_channel]
            if pipeline.lost_channel in found:
                pipeline.lost_channel_id = found[pipeline.lost_channel]
            self.session.add(pipeline)

    def apply_config(self, team_id: str, config: WorkspaceConfig, digest: str, now: datetime, *, overwrite: bool) -> str:
        """Create the workspace from the configuration, or re-apply a changed file (`overwrite`);
        returns "created", "updated" or "kept" (the database holds the live settings)."""
        workspace = self.get_workspace(team_id)
        if workspace is not None and (workspace.config_digest == digest or not overwrite):
            return "kept"
        outcome = "updated" if workspace is not None else "created"
        if workspace is None:
            workspace = Workspace(team_id=team_id, currency=config.currency, timezone=config.timezone, language=config.language, created_at=now)
        workspace.currency = config.currency
        workspace.timezone = config.timezone
        workspace.language = config.language
        workspace.admins = list(config.admins)
        workspace.industries = list(config.industries)
        workspace.regions = list(config.regions)
        workspace.company_sizes = list(config.company_sizes)
        workspace.assignment = asdict(config.assignment)
        workspace.exchange_rates = stored_rates(config.exchange_rates, {})
        workspace.config_digest = digest
        self.session.add(workspace)
        self.session.flush()
        self._apply_pipelines(team_id, config)
        self._apply_teams(team_id, config)
        return outcome

    def _apply_pipelines(self, team_id: str, config: WorkspaceConfig) -> None:
        """The file's pipelines, matched to the stored ones by name (case-insensitive); one the file no longer
        names is retired with its stages, so its deals and history stay readable. A file that describes one
        pipeline (today's top-level [[stages]]) updates the workspace's one pipeline whatever its name."""
        existing = self.pipeline_rows(team_id)
        by_name = {p.name.casefold(): p for p in existing}
        if len(config.pipelines) == 1 and len(existing) == 1 and config.pipelines[0].name.casefold() not in by_name:
            by_name = {config.pipelines[0].name.casefold(): existing[0]}
        for pipeline in existing:
            pipeline.position += 1000  # out of the way while pipelines are renumbered
            pipeline.active = False
            self.session.add(pipeline)
        self.session.flush()
        for position, wanted in enumerate(config.pipelines):
            row = by_name.get(wanted.name.casefold()) or PipelineRow(team_id=team_id, name=wanted.name, position=position)
            row.name = wanted.name
            row.position = position
            row.description = wanted.description
            row.won_channel_id = channel_id_of(wanted.won_channel, row.won_channel, row.won_channel_id)
            row.won_channel = wanted.won_channel
            row.lost_channel_id = channel_id_of(wanted.lost_channel, row.lost_channel, row.lost_channel_id)
            row.lost_channel = wanted.lost_channel
            row.active = True
            self.session.add(row)
            self.session.flush()
            assert row.id is not None
            self._apply_stages(team_id, row.id, wanted.stages)
        retired = {p.id for p in existing if not p.active}
        if retired:  # a pipeline the file no longer names is retired with its stages
            for stage in self.stages(team_id):
                if stage.pipeline_id in retired and stage.active:
                    stage.active = False
                    self.session.add(stage)
        self.session.flush()

    def _apply_stages(self, team_id: str, pipeline_id: int, wanted_stages: tuple[StageConfig, ...]) -> None:
        existing = {s.name.lower(): s for s in self.stages(team_id) if s.pipeline_id == pipeline_id}
        ranks_before = {s.id: s.position if s.active else None for s in existing.values()}
        for stage in existing.values():
            # park positions out of the way while stages are renumbered
            stage.position += 1000
            stage.active = False
        self.session.flush()
        for position, wanted in enumerate(wanted_stages):
            stage = existing.get(wanted.name.lower()) or Stage(team_id=team_id, pipeline_id=pipeline_id, name=wanted.name, position=position,
                                                               probability=0, max_days=1)
            stage.name = wanted.name
            stage.position = position
            stage.probability = wanted.probability
            stage.max_days = wanted.max_days
            stage.alert_channel_id = channel_id_of(wanted.alert_channel, stage.alert_channel, stage.alert_channel_id)
            stage.alert_channel = wanted.alert_channel
            stage.alert_usergroup = wanted.alert_usergroup
            stage.active = True
            self.session.add(stage)
        self.session.flush()
        if any((s.position if s.active else None) != ranks_before[s.id] for s in existing.values()):
            # the funnel's order changed: which visits count as advanced changes with it
            visits.derive(self.session, team_id)

    def _apply_teams(self, team_id: str, config: WorkspaceConfig) -> None:
        teams = {t.name.lower(): t for t in self.session.scalars(select(SalesTeam).where(SalesTeam.team_id == team_id))}
        wanted_names = {t.name.lower() for t in config.teams}
        for name, team in teams.items():
            if name not in wanted_names:
                self._replace_members(team_id, team, [])
                self.session.delete(team)
        self.session.flush()
        pipeline_ids = {p.name.casefold(): p.id for p in self.pipeline_rows(team_id)}
        for wanted in config.teams:
            team = teams.get(wanted.name.lower()) or SalesTeam(team_id=team_id, name=wanted.name, manager_id=wanted.manager)
            team.name = wanted.name
            team.manager_id = wanted.manager
            team.channel = wanted.channel
            team.digest_cron = wanted.digest
            team.timezone = wanted.timezone
            team.auto_assign = wanted.auto_assign
            team.routing_channel = wanted.routing_channel
            team.pipeline_id = pipeline_ids.get(wanted.pipeline.casefold()) if wanted.pipeline else None
            self.session.add(team)
            self.session.flush()
            self._replace_members(team_id, team, list(wanted.members))

    def _replace_members(self, team_id: str, team: SalesTeam, user_ids: list[str]) -> None:
        member: Any = SalesTeamMember
        self.session.execute(delete(SalesTeamMember).where(member.team_id == team_id, member.sales_team_id == team.id))
        for user_id in user_ids:
            assert team.id is not None
            self.session.add(SalesTeamMember(team_id=team_id, sales_team_id=team.id, user_id=user_id))
