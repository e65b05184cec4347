"""Assignment: /opp suggest · assign · away, the card's Needs an owner button, the suggestions' Assign buttons."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.assignment.views import suggestions_message
from bot.domain.values import Context, Invalid, parse_id
from bot.services import Services
from bot.slack import requests
from bot.slack.blocks import mrkdwn, slack_date
from bot.slack.commands import Command
from bot.slack.ids import ASSIGN_BUTTON, NEEDS_OWNER_BUTTON
from handlers.commands import handles
from handlers.listener import Replier, named_id, on_action


@handles("suggest")
def suggest(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    opp, suggestions = services.assignments.suggest(ctx, parsed.ref or 0)
    reply.say(*suggestions_message(opp, suggestions, requested_by=ctx.user_id, team_name="the team"))


@handles("assign")
def assign(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    after = services.assignments.assign(ctx, parsed.user_id or "", number=parsed.ref)
    reply.say(f"{after.ref} now belongs to <@{after.owner_id}>; I told them.")


@handles("away")
def away(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    who = parsed.user_id or ctx.user_id
    until = services.assignments.set_away(ctx, who, parsed.text)
    name = "You are" if who == ctx.user_id else f"<@{who}> is"
    reply.say(f"{name} away until {slack_date(until)}: no new deals are suggested or assigned until then." if until
              else f"{name} back: new deals can be suggested and assigned again.")


def register(app: App, services: Services) -> None:
    @on_action(app.action(ASSIGN_BUTTON))
    def assign_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        raw_opp, _, user_id = request.value.partition(":")
        opp_id = parse_id(raw_opp)
        if opp_id is None or not user_id:
            raise Invalid("That button doesn't name a deal and a rep.")
        ctx = services.workspaces.context(request.team_id, request.user_id)
        after = services.assignments.assign(ctx, user_id, opp_id=opp_id)
        if request.in_message:
            done = f":white_check_mark: {after.ref} assigned to <@{user_id}> by <@{ctx.user_id}>."
            reply.replace(done, [{"type": "section", "text": mrkdwn(done)}])
        else:
            reply.say(f"{after.ref} now belongs to <@{user_id}>; I told them.")

    @on_action(app.action(NEEDS_OWNER_BUTTON))
    def needs_owner_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        opp_id = named_id(request.value, "an opportunity")
        ctx = services.workspaces.context(request.team_id, request.user_id)
        reply.say(services.assignments.needs_owner(ctx, opp_id))
