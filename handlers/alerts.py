"""Stage alerts' buttons: Take it / Release (the alert is redrawn through the click's response_url)."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.alerts.service import TakeResult
from bot.alerts.views import stage_alert_message
from bot.domain.values import Context
from bot.i18n import translator
from bot.services import Services
from bot.slack import requests
from bot.slack.ids import ALERT_OPEN_LINK, RELEASE_BUTTON, TAKE_BUTTON
from handlers.listener import Replier, named_id, on_action


def register(app: App, services: Services) -> None:
    alerts = services.alerts

    def clicked(request: requests.ActionRequest, reply: Replier, act: Callable[[Context, int], TakeResult]) -> None:
        change_id = named_id(request.value, "a stage change")
        ctx = services.workspaces.context(request.team_id, request.user_id)
        result = act(ctx, change_id)
        stage = ctx.pipelines.by_id(result.stage_id)
        if not result.changed or stage is None:
            reply.say(result.message)
            return
        permalink = services.slack.permalink(*result.card) if result.card else None
        # the alert is the channel's: redrawn in the workspace's language (the clicker's answers are in theirs)
        reply.replace(*stage_alert_message(result.opportunity, ctx.pipelines, result.change_id, result.mover_id, stage, list(result.path),
                                           permalink, holder=result.holder, t=translator(ctx.workspace.language)))

    @on_action(app.action(TAKE_BUTTON))
    def take_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        clicked(request, reply, alerts.take)

    @on_action(app.action(RELEASE_BUTTON))
    def release_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        clicked(request, reply, alerts.release)

    @app.action(ALERT_OPEN_LINK)
    def link_opened(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL, there is nothing to do
