"""Follow-ups: /opp followup, the Add follow-up button and modal, and the reminder DM's Done / Snooze."""

from __future__ import annotations

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.domain.values import N_, Context, Invalid, OppError
from bot.followups.forms import validate_follow_up
from bot.followups.service import FollowUpResult
from bot.followups.views import follow_up_modal, reminder_closed_message
from bot.home.views import home_page_view
from bot.i18n import ENGLISH, translator
from bot.services import Services
from bot.slack import requests
from bot.slack.commands import Command
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    DONE_BUTTON,
    FOLLOW_UP_MODAL,
    SNOOZE_SELECT,
)
from handlers.commands import handles
from handlers.listener import Replier, named_id, on_action, on_submission, open_view


@handles("followup")
def followup(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    reply.say(services.follow_ups.add_from_text(ctx, parsed.ref or 0, parsed.text or "").message)


def register(app: App, services: Services) -> None:
    follow_ups = services.follow_ups

    def redraw(request: requests.ActionRequest, ctx: Context, reply: Replier, client: WebClient, result: FollowUpResult) -> None:
        """Redraw what the click came from (the App Home, or the reminder DM); a click that changed nothing is told why."""
        if not result.changed:
            reply.say(result.message)
        elif request.in_home:
            client.views_publish(user_id=ctx.user_id, view=home_page_view(services.home.page(ctx), ctx.pipelines, t=translator(ctx.language)))
        elif request.block_id.startswith("reminder:") and not request.is_ephemeral:
            reply.replace(*reminder_closed_message(result.follow_up, result.opportunity, result.message, t=translator(ctx.language)))
        else:
            reply.say(result.message)

    @on_action(app.action(ADD_FOLLOW_UP_BUTTON))
    def add_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        ctx = services.workspaces.context(request.team_id, request.user_id)
        opp = follow_ups.plannable(ctx, named_id(request.value, "an opportunity"))
        open_view(client, request.trigger_id, follow_up_modal(opp, {"opp": opp.id}, assignee_id=opp.owner_id, t=translator(ctx.language)))

    @on_submission(app.view(FOLLOW_UP_MODAL))
    def follow_up_submitted(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        t = translator(ENGLISH)
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            draft, errors = validate_follow_up(request.values, services.clock.now(), ctx.timezone, t=t)
            if draft is None:
                ack(response_action="errors", errors=errors)
                return
            opp_id = requests.metadata_id(request.metadata.get("opp"))
            if opp_id is None:
                raise Invalid(N_("This form doesn't name an opportunity any more; click Add follow-up again."))
            follow_ups.add(ctx, draft.due_at, draft.text, opp_id=opp_id, assignee_id=draft.assignee_id)
        except OppError as exc:
            ack(response_action="errors", errors={"what": exc.text(t)})
            return
        ack()

    @on_action(app.action(DONE_BUTTON))
    def done_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        follow_up_id = named_id(request.value, "a follow-up")
        ctx = services.workspaces.context(request.team_id, request.user_id)
        redraw(request, ctx, reply, client, follow_ups.complete(ctx, follow_up_id))

    @on_action(app.action(SNOOZE_SELECT))
    def snooze_chosen(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        raw_id, _, choice = request.value.partition(":")
        follow_up_id = named_id(raw_id, "a follow-up", control="choice")
        ctx = services.workspaces.context(request.team_id, request.user_id)
        redraw(request, ctx, reply, client, follow_ups.snooze(ctx, follow_up_id, choice))
