"""Stage alerts' buttons (Take it / Release) and the admins' /opp config form."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.service import Alerts, TakeResult
from bot.domain.values import OppError, parse_id
from bot.services import Services
from bot.slack.gateway import slack_error
from bot.slack.ids import ALERT_OPEN_LINK, CONFIG_MODAL, RELEASE_BUTTON, TAKE_BUTTON
from bot.workspace.forms import validate_workspace_settings
from handlers.common import after_ack, ephemeral, form_values, open_view

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    alerts, pipeline = services.alerts, services.pipeline

    def update_alert(body: dict, client: WebClient, result: TakeResult) -> None:
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if not (channel and ts):
            return
        text, message = alerts.alert_message_now(body["team"]["id"], result)
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=message)
        except SlackApiError as exc:
            log.warning("could not update the alert in %s: %s", channel, slack_error(exc))

    def clicked(body: dict, respond: Respond, client: WebClient, act) -> None:
        change_id = parse_id((body.get("actions") or [{}])[0].get("value"))
        try:
            if change_id is None:
                raise OppError("That button doesn't name a stage change.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = act(actor, change_id)
        except OppError as exc:
            respond(**ephemeral(f":warning: {exc}"))
            return
        if result.changed:
            update_alert(body, client, result)
        else:
            respond(**ephemeral(result.message))

    @after_ack(app.action(TAKE_BUTTON))
    def take_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        clicked(body, respond, client, alerts.take)

    @after_ack(app.action(RELEASE_BUTTON))
    def release_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        clicked(body, respond, client, alerts.release)

    @app.action(ALERT_OPEN_LINK)
    def link_opened(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL, there is nothing to do

    @app.view(CONFIG_MODAL)
    def settings_submitted(ack: Ack, body: dict, view: dict) -> None:
        team_id = body["team"]["id"]
        settings, errors = validate_workspace_settings(form_values(view), pipeline.stage_model(team_id))
        if settings is None:
            ack(response_action="errors", errors=errors)
            return
        try:
            pipeline.update_settings(pipeline.actor(team_id, body["user"]["id"]), settings)
        except OppError as exc:
            first_block = next((b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "won_channel")
            ack(response_action="errors", errors={first_block: str(exc)})
            return
        ack()


def open_settings(client: WebClient, alerts: Alerts, *, team_id: str, user_id: str, trigger_id: str) -> str | None:
    """Open /opp config for an admin; returns what to tell anyone else, or why it didn't open."""
    pipeline = alerts.pipeline
    try:
        view = pipeline.settings_form(pipeline.actor(team_id, user_id))
    except OppError as exc:
        return f":warning: {exc}"
    if not open_view(client, trigger_id, view):
        return "Slack didn't let me open the form in time. Please run `/opp config` again."
    return None
