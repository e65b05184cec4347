"""Follow-up buttons, the "Add follow-up" modal, and the reminder DM's Done / Snooze."""

from __future__ import annotations

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.stages import can_change
from bot.domain.values import OppError, parse_id
from bot.followups.forms import validate_follow_up
from bot.followups.service import FollowUpResult
from bot.followups.views import follow_up_modal, reminder_closed_message
from bot.services import Services
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    DONE_BUTTON,
    FOLLOW_UP_MODAL,
    SNOOZE_SELECT,
)
from handlers.common import after_ack, form_values, metadata, open_view, tell_clicker


def _value(body: dict) -> str:
    action = (body.get("actions") or [{}])[0]
    return str(action.get("value") or (action.get("selected_option") or {}).get("value") or "")


def register(app: App, services: Services) -> None:
    follow_ups, pipeline = services.follow_ups, services.pipeline

    def refresh_surface(body: dict, client: WebClient, result: FollowUpResult) -> None:
        """Update the reminder DM in place, or the App Home the click came from."""
        container = body.get("container") or {}
        if container.get("type") == "view" and (body.get("view") or {}).get("type") == "home":
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            client.views_publish(user_id=actor.user_id, view=pipeline.home(actor))
            return
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if channel and ts and not container.get("is_ephemeral") and str(((body.get("actions") or [{}])[0].get("block_id") or "")).startswith("reminder:"):
            text, message = reminder_closed_message(result.follow_up, result.opportunity, result.message)
            try:
                client.chat_update(channel=channel, ts=ts, text=text, blocks=message)
            except SlackApiError:
                pass  # the DM was deleted: the change itself is saved

    @after_ack(app.action(ADD_FOLLOW_UP_BUTTON))
    def add_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        value = _value(body)
        try:
            opp_id = parse_id(value)
            if opp_id is None:
                raise OppError("That button doesn't name an opportunity.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            opp = pipeline.find(actor, opp_id=opp_id)
            if not can_change(actor, opp):
                raise OppError(f"You can't add follow-ups to {opp.ref}: it belongs to <@{opp.owner_id}>.")
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        open_view(client, body["trigger_id"], follow_up_modal(opp, {"opp": opp.id}, assignee_id=opp.owner_id))

    @app.view(FOLLOW_UP_MODAL)
    def follow_up_submitted(ack: Ack, body: dict, view: dict) -> None:
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        draft, errors = validate_follow_up(form_values(view), pipeline.clock.now(), pipeline.timezone_of(team_id, user_id))
        if draft is None:
            ack(response_action="errors", errors=errors)
            return
        opp_id = metadata(view).get("opp")
        try:
            if not isinstance(opp_id, int):
                raise OppError("This form doesn't name an opportunity any more; click Add follow-up again.")
            actor = pipeline.actor(team_id, user_id)
            follow_ups.add(actor, opp_id, draft.text, draft.due_at, draft.assignee_id)
        except OppError as exc:
            ack(response_action="errors", errors={"what": str(exc)})
            return
        ack()

    @after_ack(app.action(DONE_BUTTON))
    def done_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        value = _value(body)
        try:
            follow_up_id = parse_id(value)
            if follow_up_id is None:
                raise OppError("That button doesn't name a follow-up.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = follow_ups.complete(actor, follow_up_id)
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        if result.changed:
            refresh_surface(body, client, result)
        else:
            tell_clicker(body, respond, client, result.message)

    @after_ack(app.action(SNOOZE_SELECT))
    def snooze_chosen(body: dict, respond: Respond, client: WebClient) -> None:
        raw_id, _, choice = _value(body).partition(":")
        try:
            follow_up_id = parse_id(raw_id)
            if follow_up_id is None:
                raise OppError("That choice doesn't name a follow-up.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = follow_ups.snooze(actor, follow_up_id, choice)
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        if result.changed:
            refresh_surface(body, client, result)
        else:
            tell_clicker(body, respond, client, result.message)
