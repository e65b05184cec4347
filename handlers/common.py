"""What every listener needs: payload parsing, modal opening, and turning refusals into messages."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.deals.service import Pipeline
from bot.deals.views import new_opportunity_modal
from bot.slack.blocks import mrkdwn, plain
from bot.slack.gateway import slack_error

log = logging.getLogger(__name__)

Listener = Callable[..., None]


def ack_now(ack: Ack) -> None:
    ack()


def after_ack(route: Callable[..., Any], ack: Listener = ack_now) -> Callable[[Listener], Listener]:
    """Register `work` to run after Slack has its answer.

    The ack (by default a bare one) runs in the request's own thread, so the HTTP answer never
    queues behind other requests' database and Web API work; `work` then runs as a Bolt lazy
    listener on the listener pool, with the same injected arguments. What the ack decided (a
    parsed command, a created deal) reaches `work` through `context`, which Bolt copies.
    """

    def register(work: Listener) -> Listener:
        @functools.wraps(work)
        def logged(*args: Any, **kwargs: Any) -> None:
            try:
                work(*args, **kwargs)
            except Exception:
                # Bolt would log only the message of a lazy listener's error, not where it came from.
                log.exception("%s failed after its ack", work.__name__)

        route(ack=ack, lazy=[logged])
        return work

    return register


def form_values(view: dict) -> dict[str, Any]:
    """Flatten view.state.values to {block_id: value} for the element types our modals use."""
    values: dict[str, Any] = {}
    for block_id, actions in (view.get("state", {}).get("values") or {}).items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            if not isinstance(element, dict):
                continue
            kind = element.get("type")
            if kind == "plain_text_input":
                values[block_id] = element.get("value")
            elif kind in ("static_select", "radio_buttons"):
                values[block_id] = (element.get("selected_option") or {}).get("value")
            elif kind == "users_select":
                values[block_id] = element.get("selected_user")
            elif kind == "datepicker":
                values[block_id] = element.get("selected_date")
            elif kind == "timepicker":
                values[block_id] = element.get("selected_time")
            elif kind == "conversations_select":
                values[block_id] = element.get("selected_conversation")
    return values


def metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def notice_modal(title: str, text: str) -> dict:
    return {"type": "modal", "title": plain(title[:24]), "close": plain("Close"), "blocks": [{"type": "section", "text": mrkdwn(text)}]}


def open_view(client: WebClient, trigger_id: str, view: dict) -> bool:
    try:
        client.views_open(trigger_id=trigger_id, view=view)
        return True
    except SlackApiError as exc:
        # An expired trigger (over 3 s) can't be retried: the user has to click again.
        log.warning("views.open failed: %s", slack_error(exc))
        return False


def open_new_opportunity(client: WebClient, pipeline: Pipeline, *, team_id: str, user_id: str, trigger_id: str,
                         channel_id: str | None, name: str | None = None, notes: str | None = None) -> bool:
    choices = pipeline.form_choices(team_id)
    view = new_opportunity_modal(choices, owner_id=user_id, metadata={"channel": channel_id}, name=name, notes=notes)
    return open_view(client, trigger_id, view)


def ephemeral(text: str) -> dict:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def tell_clicker(body: dict, respond, client: WebClient, text: str) -> None:
    """Answer the clicker only: in the conversation when there is one, else (App Home) in a modal."""
    if body.get("response_url"):
        respond(**ephemeral(text))
    elif body.get("trigger_id"):
        open_view(client, body["trigger_id"], notice_modal("oppbot", text))
