"""The admins' /opp config: the settings modal of one pipeline (another picked in it redraws it), its submission,
and "Add a pipeline" pushed from it."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.values import Context, Invalid, OppError, parse_id
from bot.i18n import Translator, translator
from bot.services import Services
from bot.slack import requests
from bot.slack.commands import Command
from bot.slack.gateway import SLACK_UNREACHABLE, slack_error
from bot.slack.ids import CONFIG_ADD_PIPELINE_BUTTON, CONFIG_MODAL, CONFIG_PIPELINE_SELECT, NEW_PIPELINE_MODAL
from bot.workspace.forms import NEW_PIPELINE_BLOCKS, SettingsProblem, pipeline_block, validate_new_pipeline, validate_workspace_settings
from bot.workspace.service import CHANGED_WHILE_OPEN, ConfigForm
from bot.workspace.views import added_modal, config_modal, new_pipeline_modal
from handlers.commands import handles
from handlers.listener import READERS, Replier, after_ack, notice_modal, on_submission, open_view, redraw

log = logging.getLogger(__name__)


def settings_view(form: ConfigForm, t: Translator) -> dict:
    pipeline = form.pipeline
    return config_modal(pipeline, won_channel=pipeline.won_channel_id or pipeline.won_channel,
                        lost_channel=pipeline.lost_channel_id or pipeline.lost_channel, rates=form.workspace.rates, t=t, choices=form.choices)


@handles("config")
def config(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    form = services.workspaces.settings_form(ctx, parsed.text)
    t = translator(ctx.language)
    if not open_view(client, request.trigger_id, settings_view(form, t)):
        reply.say(t("Slack didn't let me open the form in time. Please run `/opp config` again."))


def _push_notice(client: WebClient, trigger_id: str | None, text: str, t: Translator) -> None:
    if not trigger_id:
        return
    try:
        client.views_push(trigger_id=trigger_id, view=notice_modal("oppbot", text, t=t))
    except SlackApiError as exc:
        log.warning("views.push failed: %s", slack_error(exc))
    except SLACK_UNREACHABLE as exc:
        log.warning("views.push: Slack didn't answer (%s)", exc.__class__.__name__)


def register(app: App, services: Services) -> None:
    @after_ack(app.action(CONFIG_PIPELINE_SELECT))
    def pipeline_picked(body: dict, client: WebClient) -> None:
        """Another pipeline picked in the open modal: the modal is redrawn with its settings (the hash guards a newer view)."""
        request = requests.action(body)
        shown = requests.shown_view(body)
        ctx = services.workspaces.context(request.team_id, request.user_id)
        t = translator(ctx.language)
        try:
            picked = parse_id(request.value)
            if picked is None or shown is None:
                raise Invalid(CHANGED_WHILE_OPEN)
            form = services.workspaces.settings_form(ctx, pipeline_id=picked)
        except OppError as exc:
            _push_notice(client, request.trigger_id, t(":warning: {problem}", problem=exc.text(t)), t)
            return
        redraw(client, shown, settings_view(form, t))

    @after_ack(app.action(CONFIG_ADD_PIPELINE_BUTTON))
    def add_pipeline_clicked(body: dict, client: WebClient) -> None:
        request = requests.action(body)
        ctx = services.workspaces.context(request.team_id, request.user_id)
        t = translator(ctx.language)
        try:
            services.workspaces.settings_form(ctx)  # admins only
        except OppError as exc:
            _push_notice(client, request.trigger_id, t(":warning: {problem}", problem=exc.text(t)), t)
            return
        if request.trigger_id:
            try:
                client.views_push(trigger_id=request.trigger_id, view=new_pipeline_modal(t=t))
            except SlackApiError as exc:
                log.warning("views.push of Add a pipeline failed: %s", slack_error(exc))

    @on_submission(app.view(CONFIG_MODAL))
    def settings_submitted(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        t = READERS.configured()  # until the context says whose language
        first = (request.input_blocks or ("exchange_rates",))[0]
        shown_pipeline = 0
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            shown = request.metadata.get("stages")
            shown_stages = tuple(shown) if isinstance(shown, list) and all(type(s) is int for s in shown) else None
            # admins only, the pipeline as the form showed it (none named: a form from before pipelines, the admin's own)
            pipeline = services.workspaces.settings_form(ctx, pipeline_id=requests.metadata_id(request.metadata.get("pipeline_id")),
                                                         shown_stages=shown_stages).pipeline
            shown_pipeline = pipeline.id
            settings, errors = validate_workspace_settings(request.values, pipeline, ctx.workspace.currency, t=t)
            if settings is None:
                ack(response_action="errors", errors=errors)
                return
            services.workspaces.update_settings(ctx, settings, shown_stages=shown_stages)
        except SettingsProblem as exc:
            block = pipeline_block(shown_pipeline, exc.field)
            ack(response_action="errors", errors={block if block in request.input_blocks or not request.input_blocks else first: exc.text(t)})
            return
        except OppError as exc:
            ack(response_action="errors", errors={first: exc.text(t)})
            return
        ack()

    @on_submission(app.view(NEW_PIPELINE_MODAL))
    def pipeline_added(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        t = READERS.configured()  # until the context says whose language
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            if not ctx.actor.is_admin:
                services.workspaces.settings_form(ctx)
            new, errors = validate_new_pipeline(request.values, t=t)
            if new is None:
                ack(response_action="errors", errors=errors)
                return
            added, reactivated = services.workspaces.add_pipeline(ctx, new)
        except SettingsProblem as exc:
            ack(response_action="errors", errors={f"new_pipeline:{exc.field}": exc.text(t)})
            return
        except OppError as exc:
            ack(response_action="errors", errors={NEW_PIPELINE_BLOCKS[0]: exc.text(t)})
            return
        ack(response_action="update", view=added_modal(added, reactivated=reactivated, t=t))

