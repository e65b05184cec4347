"""On-demand analytics: `/opp funnel`, `/opp report by …`, `/opp export`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.deals.service import Pipeline
from bot.digests.service import WIN_RATE_WINDOW, funnel_steps
from bot.domain.periods import PeriodError, parse_period
from bot.domain.values import Actor, Forbidden, Invalid
from bot.reports.charts import funnel_chart_png
from bot.reports.export import build_filter, csv_rows
from bot.reports.views import report_message
from bot.slack.blocks import escape, format_amount, mrkdwn, percent
from bot.teams.service import Teams
from storage import analytics

DIMENSIONS = {"industry": "industry", "region": "region", "size": "size", "tag": "tag", "month": "month", "rep": "rep"}


@dataclass(frozen=True)
class FunnelResult:
    title: str
    text: str
    blocks: list[dict]
    png: bytes


@dataclass(frozen=True)
class ReportResult:
    text: str
    blocks: list[dict]


class Reports:
    def __init__(self, pipeline: Pipeline, teams: Teams) -> None:
        self.pipeline = pipeline
        self.teams = teams
        self.uow = pipeline.uow
        self.clock = pipeline.clock

    def _currency(self, team_id: str) -> str:
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
        return workspace.currency if workspace else "USD"

    def scope_for(self, actor: Actor, *, user_id: str | None = None, team_name: str | None = None) -> tuple[analytics.Scope, str]:
        """Whose deals: a person (self, a managed rep, anyone for admins), a team, or by default one's own team or self."""
        if user_id:
            if user_id != actor.user_id and not (actor.is_admin or user_id in actor.managed_user_ids):
                raise Forbidden(f"You can see only your own numbers{' and your team’s' if actor.is_manager else ''}, not <@{user_id}>'s.")
            return analytics.Scope(actor.team_id, owner_ids=(user_id,)), f"<@{user_id}>"
        if team_name or actor.is_manager:
            team = self.teams.pick(actor, None if team_name in (None, "team") else team_name, for_change=False)
            if not (actor.is_admin or team.manager_id == actor.user_id or actor.user_id in team.member_ids):
                raise Forbidden(f"You are not on {team.name}.")
            if actor.user_id in team.member_ids and not (actor.is_admin or team.manager_id == actor.user_id):
                raise Forbidden("Team numbers are for the team's manager and admins; `/opp funnel` shows yours.")
            return analytics.Scope(actor.team_id, owner_ids=team.member_ids or ("",)), team.name
        return analytics.Scope(actor.team_id, owner_ids=(actor.user_id,)), "you"

    def funnel(self, actor: Actor, *, user_id: str | None = None, team_name: str | None = None) -> FunnelResult:
        scope, who = self.scope_for(actor, user_id=user_id, team_name=team_name)
        stages = self.pipeline.stage_model(actor.team_id)
        now = self.clock.now()
        currency = self._currency(actor.team_id)
        with self.uow() as uow:
            conversion = uow.figures.stage_conversion(scope)
            rate = uow.figures.win_rate(scope, now - WIN_RATE_WINDOW, now, currency)
            pipeline = uow.figures.pipeline_by_stage(scope, currency)
        steps, rates = funnel_steps(conversion, stages)
        title = f"Funnel: {who}" if who != "you" else "Your funnel"
        lines = [f"*{title}*"]
        for step in conversion:
            target = stages.name_of(step.next_stage_id) if step.next_stage_id else "Won"
            lines.append(f"{escape(stages.name_of(step.stage_id))} → {escape(target)}: {step.advanced} of {step.entered} ({percent(step.rate)})")
        open_count = sum(p.count for p in pipeline)
        open_amount = sum((p.amount for p in pipeline), start=Decimal(0))
        lines.append(f"Open now: {open_count} deals · {format_amount(open_amount, currency)}")
        lines.append(f"Win rate, last 90 days: {percent(rate.rate_by_count)} by count ({rate.won_count} won, {rate.lost_count} lost), "
                     f"{percent(rate.rate_by_amount)} by amount")
        text = "\n".join(lines)
        png = funnel_chart_png(title.replace("<@", "@").replace(">", ""), steps, rates=rates)
        return FunnelResult(title, text, [{"type": "section", "text": mrkdwn(text)}], png)

    def report(self, actor: Actor, dimension: str, period_text: str | None) -> ReportResult:
        if dimension not in DIMENSIONS:
            raise Invalid("Report by industry, region, size, tag, month or rep.")
        try:
            period = parse_period(period_text, self.clock.now(), self.pipeline.timezone_of(actor.team_id, actor.user_id))
        except PeriodError as exc:
            raise Invalid(str(exc)) from None
        if actor.is_admin:
            scope, who = analytics.Scope(actor.team_id), "the workspace"
        else:
            scope, who = self.scope_for(actor)
        currency = self._currency(actor.team_id)
        with self.uow() as uow:
            rows = uow.figures.report(scope, DIMENSIONS[dimension], period.start, period.end, currency)
        return ReportResult(*report_message(dimension, period.label, who, rows, currency))

    def export(self, actor: Actor, filters: tuple[tuple[str, str], ...]):
        stages = self.pipeline.stage_model(actor.team_id)
        wanted = build_filter(actor, filters, stages)
        return csv_rows(self.uow, actor.team_id, wanted, stages)


def export_name(now: datetime) -> str:
    return f"opportunities-{now:%Y%m%d-%H%M}.csv"
