"""On-demand figures: /opp funnel (with its chart by DM), /opp report, /opp export (a CSV by DM)."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.app import Services
from bot.domain.values import Context
from bot.reports.service import export_name
from bot.reports.views import funnel_chart, funnel_message, report_view
from bot.slack import requests
from bot.slack.commands import Command
from bot.slack.gateway import slack_error
from handlers.commands import handles
from handlers.listener import Replier


@handles("funnel")
def funnel(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    figures = services.reports.funnel(ctx, user_id=parsed.user_id, team_name=parsed.team)
    reply.say(*funnel_message(figures, ctx.stages))
    title, png = funnel_chart(figures, ctx.stages)
    try:
        services.slack.upload(services.slack.dm_channel(ctx.user_id), png, "funnel.png", title)
    except SlackApiError as exc:
        reply.say(f"I couldn't send the chart ({slack_error(exc)}); the numbers above are complete.")


@handles("report")
def report(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    reply.say(*report_view(services.reports.report(ctx, parsed.action or "", parsed.text)))


@handles("export")
def export(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    exported = services.reports.export(ctx, parsed.filters)
    name = export_name(services.clock.now())
    try:
        services.slack.upload(services.slack.dm_channel(ctx.user_id), exported.file.read(), name, name,
                              comment=f"{exported.rows} opportunities")
    except SlackApiError as exc:
        reply.say(f":warning: I couldn't upload the export ({slack_error(exc)}). Please try again.")
        return
    finally:
        exported.close()
    reply.say(f"Exported {exported.rows} opportunities with their stage history to `{name}` in your DM with oppbot.")


def register(app, services: Services) -> None:
    """The reports have no buttons or modals."""
