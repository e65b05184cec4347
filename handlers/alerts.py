"""Stage alerts' buttons: Take it / Release (the alert is redrawn through the click's response_url)."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.alerts.service import TakeResult
from bot.alerts.views import stage_alert_message
from bot.domain.values import Context, Invalid, parse_id
from bot.services import Services
from bot.slack import requests
from bot.slack.ids import ALERT_OPEN_LINK, RELEASE_BUTTON, TAKE_BUTTON
from handlers.listener import Replier, after_ack, refusals_answered, replier


def register(app: App, services: Services) -> None:
    alerts = services.alerts

    def clicked(body: dict, respond: Respond, client: WebClient, act: Callable[[Context, int], TakeResult]) -> None:
        request = requests.action(body)

        @refusals_answered
        def run(reply: Replier) -> None:
            change_id = parse_id(request.value)
            if change_id is None:
                raise Invalid("That button doesn't name a stage change.")
            ctx = services.workspaces.context(request.team_id, request.user_id)
            result = act(ctx, change_id)
            stage = ctx.stages.by_id(result.stage_id)
            if not result.changed or stage is None:
                reply.say(result.message)
                return
            permalink = services.slack.permalink(*result.card) if result.card else None
            reply.replace(*stage_alert_message(result.opportunity, ctx.stages, result.change_id, result.mover_id, stage, list(result.path),
                                               permalink, holder=result.holder))

        run(replier(request, respond, client))

    @after_ack(app.action(TAKE_BUTTON))
    def take_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        clicked(body, respond, client, alerts.take)

    @after_ack(app.action(RELEASE_BUTTON))
    def release_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        clicked(body, respond, client, alerts.release)

    @app.action(ALERT_OPEN_LINK)
    def link_opened(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL, there is nothing to do
