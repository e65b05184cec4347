"""Assignment: /opp suggest · assign · away, the card's Needs an owner button, the suggestions' Assign buttons."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.assignment.views import suggestions_message
from bot.domain.values import N_, Context, Invalid, parse_id
from bot.i18n import translator
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
    t = translator(ctx.language)
    reply.say(*suggestions_message(opp, suggestions, requested_by=ctx.user_id, team_name=t("the team"), t=t))


@handles("assign")
def assign(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    after = services.assignments.assign(ctx, parsed.user_id or "", number=parsed.ref)
    t = translator(ctx.language)
    reply.say(t("{ref} now belongs to <@{user}>; I told them.", ref=after.ref, user=after.owner_id))


@handles("away")
def away(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    who = parsed.user_id or ctx.user_id
    until = services.assignments.set_away(ctx, who, parsed.text)
    t = translator(ctx.language)
    if until and who == ctx.user_id:
        said = t("You are away until {date}: no new deals are suggested or assigned until then.", date=slack_date(until))
    elif until:
        said = t("<@{user}> is away until {date}: no new deals are suggested or assigned until then.", user=who, date=slack_date(until))
    elif who == ctx.user_id:
        said = t("You are back: new deals can be suggested and assigned again.")
    else:
        said = t("<@{user}> is back: new deals can be suggested and assigned again.", user=who)
    reply.say(said)


def register(app: App, services: Services) -> None:
    @on_action(app.action(ASSIGN_BUTTON))
    def assign_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        raw_opp, _, user_id = request.value.partition(":")
        opp_id = parse_id(raw_opp)
        if opp_id is None or not user_id:
            raise Invalid(N_("That button doesn't name a deal and a rep."))
        ctx = services.workspaces.context(request.team_id, request.user_id)
        after = services.assignments.assign(ctx, user_id, opp_id=opp_id)
        t = translator(ctx.language)
        if request.in_message:
            done = t(":white_check_mark: {ref} assigned to <@{user}> by <@{by}>.", ref=after.ref, user=user_id, by=ctx.user_id)
            reply.replace(done, [{"type": "section", "text": mrkdwn(done)}])
        else:
            reply.say(t("{ref} now belongs to <@{user}>; I told them.", ref=after.ref, user=user_id))

    @on_action(app.action(NEEDS_OWNER_BUTTON))
    def needs_owner_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        opp_id = named_id(request.value, "an opportunity")
        ctx = services.workspaces.context(request.team_id, request.user_id)
        reply.say(services.assignments.needs_owner(ctx, opp_id))
