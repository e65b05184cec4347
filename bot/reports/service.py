"""On-demand analytics: `/opp funnel`, `/opp report by …`, `/opp export`.

The funnel's figures and a report are the answer to the person who asked; the funnel chart and the
CSV export are files sent to their DM, so they are outbox rows (the export is built in the slow
lane, a batch of deals at a time, however large it is)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.domain.clock import Clock
from bot.domain.money import Rates
from bot.domain.periods import PeriodError, parse_period
from bot.domain.stages import resolve_pipeline
from bot.domain.timezones import zone
from bot.domain.values import N_, Actor, Context, Forbidden, Invalid, Pipeline
from bot.i18n import ENGLISH, Translator, translator
from bot.outbox.dispatcher import PERMANENT_ERRORS, Dispatcher, Sent, Wake, WakeUp
from bot.reports.charts import THE_WORKSPACE, YOU, chart_from_data, chart_title, funnel_chart_data
from bot.reports.export import ExportFile, ExportFilter, build_filter, filter_of, filter_payload, write_csv
from bot.slack.gateway import SlackGateway, retry_after, slack_error
from bot.teams.service import Teams
from storage.analytics import BY_REASON, REPORT_BY, WIN_RATE_WINDOW, Funnel, LostReason, ReportRow, Scope, StagePipeline, StageStep, WinRate
from storage.db import UnitOfWorkFactory
from storage.models import Delivery

FUNNEL_CHART, EXPORT = "funnel_chart", "export"


@dataclass(frozen=True)
class FunnelFigures:
    who: str  # YOU ("you"), "<@U…>" or a team's name (charts.who_text writes it in the reader's language)
    rates: Rates
    funnel: Funnel  # the text and the chart show this one result
    win_rate: WinRate
    pipeline: list[StagePipeline]
    of: Pipeline | None = None  # the pipeline the figures are of
    named: bool = False  # the workspace has several pipelines: the answer names this one


@dataclass(frozen=True)
class Report:
    dimension: str
    period_label: str  # periods.Period.label, in English: views.period_text writes it in the reader's language
    who: str  # YOU, THE_WORKSPACE, "<@U…>" or a team's name
    rates: Rates
    rows: list[ReportRow]
    lost_reasons: tuple[LostReason, ...] = ()  # `by reason`: every close to Lost in the period, by the reason kept with it
    pipeline_name: str | None = None  # the pipeline reported on, when the workspace has several


class Reports:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, teams: Teams, wake: Wake | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.teams = teams
        self.wake = wake or WakeUp()

    def pipeline_for(self, ctx: Context, filters: tuple[tuple[str, str], ...] = (), *, user_id: str | None = None,
                     team_name: str | None = None) -> Pipeline:
        """The pipeline a figure is of: `pipeline:<name>` when given (exact name, unique prefix or unique part, any
        pipeline of the workspace), else the pipeline of the team asked about — a team by name, the team of the
        rep asked about, the team the manager asking manages — else the asker's team's (`ctx.home_pipeline`)."""
        named = dict(filters).get("pipeline")
        if named is not None:
            return resolve_pipeline(named, ctx.pipelines.all)
        teams = self.teams.all(ctx.team_id)
        team = None
        if user_id:
            team = next((t for t in teams if user_id in t.member_ids), None)
        elif team_name not in (None, "team"):
            wanted = (team_name or "").strip().lower()
            matches = [t for t in teams if t.name.lower() == wanted] or [t for t in teams if t.name.lower().startswith(wanted)]
            team = matches[0] if len(matches) == 1 else None
        elif ctx.actor.is_manager:
            managed = [t for t in teams if t.manager_id == ctx.user_id]
            team = managed[0] if len(managed) == 1 else None
        return ctx.pipelines.of_team(team.pipeline_id) if team is not None else ctx.home_pipeline

    def scope_for(self, actor: Actor, *, user_id: str | None = None, team_name: str | None = None) -> tuple[Scope, str]:
        """Whose deals: a person (self, a managed rep, anyone for admins), a team, or by default one's own team or self."""
        if user_id:
            if user_id != actor.user_id and not (actor.is_admin or user_id in actor.managed_user_ids):
                if actor.is_manager:
                    raise Forbidden(N_("You can see only your own numbers and your team’s, not <@{user}>'s."), user=user_id)
                raise Forbidden(N_("You can see only your own numbers, not <@{user}>'s."), user=user_id)
            return Scope(actor.team_id, owner_ids=(user_id,)), f"<@{user_id}>"
        if team_name or actor.is_manager:
            team = self.teams.pick(actor, None if team_name in (None, "team") else team_name, for_change=False)
            if not (actor.is_admin or team.manager_id == actor.user_id or actor.user_id in team.member_ids):
                raise Forbidden(N_("You are not on {team}."), team=team.name)
            if actor.user_id in team.member_ids and not (actor.is_admin or team.manager_id == actor.user_id):
                raise Forbidden(N_("Team numbers are for the team's manager and admins; `/opp funnel` shows yours."))
            return Scope(actor.team_id, owner_ids=team.member_ids or ("",)), team.name
        return Scope(actor.team_id, owner_ids=(actor.user_id,)), YOU

    def funnel(self, ctx: Context, *, user_id: str | None = None, team_name: str | None = None,
               filters: tuple[tuple[str, str], ...] = ()) -> FunnelFigures:
        """The figures of one pipeline (`pipeline_for`), and its chart for the actor's DM recorded in the same transaction."""
        scope, who = self.scope_for(ctx.actor, user_id=user_id, team_name=team_name)
        chosen = self.pipeline_for(ctx, filters, user_id=user_id, team_name=team_name)
        scope = replace(scope, pipeline_id=chosen.id)
        now = self.clock.now()
        rates = ctx.workspace.rates
        with self.uow(write=True) as uow:
            funnel = uow.figures.stage_conversion(scope)
            rate = uow.figures.win_rate(scope, now - WIN_RATE_WINDOW, now, rates)
            pipeline = uow.figures.pipeline_by_stage(scope, rates)
            uow.outbox.schedule(team_id=ctx.team_id, kind=FUNNEL_CHART, subject_id=0, dedupe_key=f"funnel-chart:{uuid.uuid4().hex}",
                                due_at=now, now=now, payload={"user": ctx.user_id, "who": who,
                                                              "chart": funnel_chart_data(funnel, chosen),
                                                              **({"pipeline": chosen.name} if ctx.pipelines.several else {})})
            uow.commit()
        self.wake()
        return FunnelFigures(who, rates, funnel, rate, list(pipeline), chosen, ctx.pipelines.several)

    def report(self, ctx: Context, dimension: str, period_text: str | None, filters: tuple[tuple[str, str], ...] = ()) -> Report:
        if dimension not in REPORT_BY:
            raise Invalid(N_("Report by {choices} or {last}."), choices=", ".join(REPORT_BY[:-1]), last=REPORT_BY[-1])
        try:
            period = parse_period(period_text, self.clock.now(), ctx.timezone)
        except PeriodError as exc:
            # the period's own message (a catalogue entry with its values when periods.py gives them)
            raise Invalid(getattr(exc, "message", str(exc)), **getattr(exc, "values", {})) from None
        if ctx.actor.is_admin:
            scope, who = Scope(ctx.team_id), THE_WORKSPACE
            chosen = self.pipeline_for(ctx, filters, team_name="team")  # an admin's: the named one, else their own team's
        else:
            scope, who = self.scope_for(ctx.actor)
            chosen = self.pipeline_for(ctx, filters)
        scope = replace(scope, pipeline_id=chosen.id)
        rates = ctx.workspace.rates
        name = chosen.name if ctx.pipelines.several else None
        with self.uow() as uow:
            if dimension == BY_REASON:
                return Report(dimension, period.label, who, rates, [], uow.figures.lost_reasons(scope, period.start, period.end), name)
            rows = uow.figures.report(scope, dimension, period.start, period.end, rates)
        return Report(dimension, period.label, who, rates, list(rows), pipeline_name=name)

    def export(self, ctx: Context, filters: tuple[tuple[str, str], ...]) -> ExportFilter:
        """Check the filters (limited to what the actor may see) and record the export for their DM."""
        wanted = build_filter(ctx.actor, filters, ctx.pipelines, self.pipeline_for(ctx))
        now = self.clock.now()
        with self.uow(write=True) as uow:
            uow.outbox.schedule(team_id=ctx.team_id, kind=EXPORT, subject_id=0, dedupe_key=f"export:{uuid.uuid4().hex}", due_at=now, now=now,
                                payload={"user": ctx.user_id, "filter": filter_payload(wanted)})
            uow.commit()
        self.wake()
        return wanted

    def export_all(self, team_id: str) -> ExportFile:
        """Every opportunity of a workspace, of every pipeline (`oppbot export`)."""
        with self.uow() as uow:
            stages = uow.workspaces.pipelines(team_id)
        # for scripts: plain UTF-8, the columns' English names (the workspace's time zone, as every export)
        wanted = build_filter(Actor(team_id=team_id, user_id="oppbot-cli", is_admin=True), (("pipeline", "all"), ("bom", "no")), stages)
        return write_csv(self.uow, team_id, wanted, stages, t=translator(ENGLISH))


def export_name(now: datetime, tz_name: str | None = None, *, t: Translator) -> str:
    """The file's name, stamped with the time in the workspace's zone: "opportunities-20261130-2000.csv" · "商机导出-20261130-2000.csv"."""
    stamp = now.astimezone(zone(tz_name)).strftime("%Y%m%d-%H%M")
    return t("opportunities-{stamp}.csv", stamp=stamp)


def export_title(now: datetime, tz_name: str | None = None, *, t: Translator) -> str:
    """The file's title in Slack: in English its name, as it always was; in another language words, not a file
    name ("商机导出 2026-11-30 20:00")."""
    if t.language == ENGLISH:
        return export_name(now, tz_name, t=t)
    return t("Opportunities exported {when}", when=now.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M"))


class ReportSenders:
    """The files of the reports: the funnel chart and the CSV export, each to the DM of whoever asked."""

    def __init__(self, uow: UnitOfWorkFactory, slack: SlackGateway) -> None:
        self.uow = uow
        self.slack = slack

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(FUNNEL_CHART, self.send_chart)
        dispatcher.register(EXPORT, self.send_export)

    def _upload(self, user_id: str, content: bytes, filename: str, title: str, *, comment: str | None, what: str, t: Translator) -> Sent:
        """Upload to the user's DM. Slack may be slow or busy (the outbox retries); when it refuses the
        file for good, the user is told in the same DM instead of waiting for a file that never comes."""
        channel = self.slack.dm_channel(user_id)
        try:
            self.slack.upload(channel, content, filename, title, comment=comment)
        except SlackApiError as exc:
            error = slack_error(exc)
            if retry_after(exc) is not None or error not in PERMANENT_ERRORS:
                raise
            text = t(":warning: I couldn't send you {what} ({error}). Nothing else was affected; please ask again later or tell an admin.",
                     what=what, error=error)
            return Sent(*self.slack.post(channel, text, None))
        return Sent(channel)

    def send_chart(self, delivery: Delivery, now: datetime) -> Sent:
        user = delivery.payload["user"]
        with self.uow() as uow:
            t = translator(uow.workspaces.reader_language(delivery.team_id, user))
            stages = uow.workspaces.pipelines(delivery.team_id).default if "chart" not in delivery.payload else None
        title = chart_title(delivery.payload["who"], t=t)
        if "pipeline" in delivery.payload:  # a workspace of several pipelines: the chart says whose
            title = t("{title} · {pipeline}", title=title, pipeline=delivery.payload["pipeline"])
        if stages is None:
            png = chart_from_data(title, delivery.payload["chart"], t=t)
        else:  # recorded before the chart's data was: the steps as they were counted then, without outcomes
            steps = [StageStep(*step) for step in delivery.payload["conversion"]]
            png = chart_from_data(title, {"steps": [(stages.name_of(s.stage_id), s.reached) for s in steps],
                                          "rates": [s.rate for s in steps][:-1]}, t=t)
        return self._upload(user, png, "funnel.png", title, comment=None, what=t("the funnel chart"), t=t)

    def send_export(self, delivery: Delivery, now: datetime) -> Sent:
        user = delivery.payload["user"]
        with self.uow() as uow:
            stages = uow.workspaces.pipelines(delivery.team_id)
            t = translator(uow.workspaces.reader_language(delivery.team_id, user))
            workspace = uow.workspaces.view(delivery.team_id)
        exported = write_csv(self.uow, delivery.team_id, filter_of(delivery.payload["filter"]), stages, t=t)
        try:
            name = export_name(now, workspace.timezone if workspace else None, t=t)
            comment = t.plural("Exported {n} opportunity with its stage history.", "Exported {n} opportunities with their stage history.", exported.rows)
            title = export_title(now, workspace.timezone if workspace else None, t=t)
            return self._upload(user, exported.file.read(), name, title, comment=comment, what=t("the export `{name}`", name=name), t=t)
        finally:
            exported.close()
