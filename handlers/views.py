"""Modal submissions."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk.webhook import WebhookClient

from bot.blocks import LOST_MODAL, NEW_MODAL
from bot.services import Services
from bot.domain import OppError
from bot.forms import validate_lost_reason, validate_new_opportunity
from handlers.common import form_values, metadata
from handlers.rendering import card_message

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    pipeline = services.pipeline

    @app.view(NEW_MODAL)
    def new_submitted(ack: Ack, body: dict, view: dict) -> None:
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        choices = pipeline.form_choices(team_id)
        draft, errors = validate_new_opportunity(form_values(view), choices, default_owner=user_id)
        if draft is not None and (problem := pipeline.check_owner(team_id, draft.owner_id)):
            errors = {"owner": problem}
        if draft is None or errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            actor = pipeline.actor(team_id, user_id)
            opp = pipeline.create(actor, draft)
        except OppError as exc:
            ack(response_action="errors", errors={"stage": str(exc)})
            return
        ack()
        pipeline.publish_card(team_id, opp, metadata(view).get("channel"), user_id)
        if opp.needs_owner:
            services.pipeline.slack.dm(user_id, services.assignments.route(opp, requested_by=user_id))

    @app.view(LOST_MODAL)
    def lost_submitted(ack: Ack, body: dict, view: dict) -> None:
        reason, problem = validate_lost_reason(form_values(view).get("reason"))
        if problem:
            ack(response_action="errors", errors={"reason": problem})
            return
        data = metadata(view)
        opp_id = data.get("opp")
        try:
            if not isinstance(opp_id, int):
                raise OppError("This form doesn't name an opportunity any more; click Lost on the card again.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = pipeline.lose(actor, opp_id, reason)  # type: ignore[arg-type]
        except OppError as exc:
            ack(response_action="errors", errors={"reason": str(exc)})
            return
        ack()
        response_url = data.get("response_url")
        if result.changed and isinstance(response_url, str) and response_url:
            WebhookClient(response_url).send(replace_original=True, **card_message(pipeline, result.opportunity))
