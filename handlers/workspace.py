"""The admins' /opp config: the settings modal and its submission."""

from __future__ import annotations

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain.languages import ENGLISH
from bot.domain.values import Context, OppError
from bot.i18n import translator
from bot.services import Services
from bot.slack import requests
from bot.slack.commands import Command
from bot.slack.ids import CONFIG_MODAL
from bot.workspace.forms import validate_workspace_settings
from bot.workspace.views import config_modal
from handlers.commands import handles
from handlers.listener import Replier, on_submission, open_view


@handles("config")
def config(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    stages, workspace = services.workspaces.settings_form(ctx)
    t = translator(ctx.language)
    view = config_modal(stages, won_channel=stages.won_channel_id or stages.won_channel,
                        lost_channel=stages.lost_channel_id or stages.lost_channel, rates=workspace.rates, t=t)
    if not open_view(client, request.trigger_id, view):
        reply.say(t("Slack didn't let me open the form in time. Please run `/opp config` again."))


def register(app: App, services: Services) -> None:
    @on_submission(app.view(CONFIG_MODAL))
    def settings_submitted(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        t = translator(ENGLISH)  # until the context says whose language
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            settings, errors = validate_workspace_settings(request.values, ctx.home_pipeline, ctx.workspace.currency, t=t)
            if settings is None:
                ack(response_action="errors", errors=errors)
                return
            services.workspaces.update_settings(ctx, settings)
        except OppError as exc:
            ack(response_action="errors", errors={(request.input_blocks or ("won_channel",))[0]: exc.text(t)})
            return
        ack()
