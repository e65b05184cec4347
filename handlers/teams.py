"""/opp team: see a sales team; its manager or an admin adds and removes reps."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.domain.values import Context
from bot.i18n import translator
from bot.services import Services
from bot.slack import requests
from bot.slack.commands import Command
from bot.teams.views import team_blocks
from handlers.commands import handles
from handlers.listener import Replier


@handles("team")
def team(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    teams = services.teams
    t = translator(ctx.language)
    if parsed.action == "add":
        changed = teams.add(ctx.actor, parsed.user_id or "", parsed.team)
        reply.say(t("<@{user}> is now on {team}.", user=parsed.user_id, team=changed.name))
    elif parsed.action == "remove":
        changed = teams.remove(ctx.actor, parsed.user_id or "", parsed.team)
        reply.say(t("<@{user}> is no longer on {team}.", user=parsed.user_id, team=changed.name))
    else:
        shown = teams.pick(ctx.actor, parsed.team, for_change=False)
        reply.say(t("Team {name}", name=shown.name), team_blocks(shown, t=t))


def register(app, services: Services) -> None:
    """/opp team has no buttons or modals."""
