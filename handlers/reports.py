"""On-demand figures: /opp funnel (with its chart by DM), /opp report, /opp export (a CSV by DM)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.domain.values import Context
from bot.i18n import translator
from bot.reports.views import funnel_message, report_view
from bot.services import Services
from bot.slack import requests
from bot.slack.commands import Command
from handlers.commands import handles
from handlers.listener import Replier


@handles("funnel")
def funnel(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    figures = services.reports.funnel(ctx, user_id=parsed.user_id, team_name=parsed.team, filters=parsed.filters)
    reply.say(*funnel_message(figures, t=translator(ctx.language)))


@handles("report")
def report(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    reply.say(*report_view(services.reports.report(ctx, parsed.action or "", parsed.text, parsed.filters), t=translator(ctx.language)))


@handles("export")
def export(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    services.reports.export(ctx, parsed.filters)
    t = translator(ctx.language)
    reply.say(t("Your export is on its way: a CSV of the opportunities and their stage history, in your DM with oppbot in a moment."))


def register(app, services: Services) -> None:
    """The reports have no buttons or modals."""
