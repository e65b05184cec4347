"""Modal submissions."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, BoltContext
from slack_sdk.webhook import WebhookClient

from bot.deals.forms import validate_lost_reason, validate_new_opportunity
from bot.domain.values import OppError, OpportunityView
from bot.services import Services
from bot.slack.ids import LOST_MODAL, NEW_MODAL
from handlers.common import after_ack, form_values, metadata
from handlers.rendering import card_message

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    pipeline = services.pipeline

    def create(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
        """The deal is validated and saved before the ack, so the modal can show what is wrong."""
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
            context["created_opportunity"] = pipeline.create(actor, draft)
        except OppError as exc:
            ack(response_action="errors", errors={"stage": str(exc)})
            return
        ack()

    @after_ack(app.view(NEW_MODAL), ack=create)
    def new_submitted(body: dict, view: dict, context: BoltContext) -> None:
        opp: OpportunityView | None = context.get("created_opportunity")
        if opp is None:
            return
        user_id = body["user"]["id"]
        pipeline.publish_card(opp.team_id, opp, metadata(view).get("channel"), user_id)
        if opp.needs_owner:
            services.pipeline.slack.dm(user_id, services.assignments.route(opp, requested_by=user_id))

    def lose(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
        reason, problem = validate_lost_reason(form_values(view).get("reason"))
        if problem:
            ack(response_action="errors", errors={"reason": problem})
            return
        opp_id = metadata(view).get("opp")
        try:
            if not isinstance(opp_id, int):
                raise OppError("This form doesn't name an opportunity any more; click Lost on the card again.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = pipeline.lose(actor, opp_id, reason)  # type: ignore[arg-type]
        except OppError as exc:
            ack(response_action="errors", errors={"reason": str(exc)})
            return
        if result.changed:
            context["lost_opportunity"] = result.opportunity
        ack()

    @after_ack(app.view(LOST_MODAL), ack=lose)
    def lost_submitted(view: dict, context: BoltContext) -> None:
        """An ephemeral card can't be chat.update'd: it is replaced through the response_url it came with."""
        opp: OpportunityView | None = context.get("lost_opportunity")
        response_url = metadata(view).get("response_url")
        if opp is not None and isinstance(response_url, str) and response_url:
            WebhookClient(response_url).send(replace_original=True, **card_message(pipeline, opp))
