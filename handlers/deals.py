"""Opportunities: /opp new · list · show · stage · move · won · lost, the New, Lost and Move to another pipeline modals, the
card's controls, the shortcuts."""

from __future__ import annotations

import logging
from dataclasses import replace

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.deals.forms import notes_from_message, stage_key, validate_lost_reason, validate_new_opportunity, validate_pipeline_move
from bot.deals.service import ChangeResult
from bot.deals.views import (
    card_details_modal,
    card_message,
    list_blocks,
    lost_reason_modal,
    move_pipeline_modal,
    new_opportunity_modal,
    next_step_offer,
    read_page_button,
)
from bot.domain.values import N_, Context, Invalid, OppError, parse_id
from bot.i18n import Translator, translator
from bot.services import Services
from bot.slack import requests
from bot.slack.commands import Command
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    CARD_MORE,
    DETAILS_BUTTON,
    FROM_MESSAGE_SHORTCUT,
    HOME_NEW_BUTTON,
    LIST_PAGE_BUTTON,
    LOST_BUTTON,
    LOST_MODAL,
    MOVE_PIPELINE_BUTTON,
    MOVE_PIPELINE_MODAL,
    MOVE_PIPELINE_SELECT,
    NEEDS_OWNER_BUTTON,
    NEW_MODAL,
    NEW_PIPELINE_SELECT,
    NEW_SHORTCUT,
    STAGE_SELECT,
    WON_BUTTON,
)
from handlers.commands import handles
from handlers.listener import (
    READERS,
    Replier,
    action_listener,
    after_ack,
    named_id,
    notice_modal,
    on_action,
    on_submission,
    open_view,
    redraw,
)

log = logging.getLogger(__name__)

FORM_EXPIRED = N_("Slack didn't let me open the form in time. Please run `/opp new` again.")
# What the card's More menu stands for: its options carry the action they are (`add_follow_up:7`).
MORE_ACTIONS = (ADD_FOLLOW_UP_BUTTON, NEEDS_OWNER_BUTTON, MOVE_PIPELINE_BUTTON, DETAILS_BUTTON)


def change_reply(result: ChangeResult, t: Translator) -> tuple[str, list[dict] | None]:
    """The answer to a stage change, with the follow-up offer when the result calls for one."""
    text = result.text(t)
    return text, next_step_offer(result.opportunity, text, t=t) if result.offers_follow_up else None


def open_new_form(services: Services, client: WebClient, ctx: Context, trigger_id: str | None, channel_id: str | None, *,
                  name: str | None = None, notes: str | None = None) -> bool:
    view = new_opportunity_modal(services.workspaces.form_choices(ctx), owner_id=ctx.user_id, metadata={"channel": channel_id},
                                 name=name, notes=notes, t=translator(ctx.language))
    return open_view(client, trigger_id, view)


def listed_text(total: int, t: Translator) -> str:
    return t.plural("{n} open opportunity", "{n} open opportunities", total)


# ----- /opp subcommands ---------------------------------------------------------------------------

@handles("new")
def new(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    if not open_new_form(services, client, ctx, request.trigger_id, request.channel_id, name=parsed.text):
        reply.say(translator(ctx.language)(FORM_EXPIRED))


@handles("list")
def list_(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    page = services.deals.list_open(ctx, owner_id=parsed.user_id, stage_query=parsed.stage)
    t = translator(ctx.language)
    reply.say(listed_text(page.total, t), list_blocks(page, ctx.pipelines, services.clock.now(), viewer_id=ctx.user_id, t=t))


@handles("show")
def show(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    card = services.deals.card(ctx, number=parsed.ref, with_history=True)
    reply.say(*card_message(card, ctx.pipelines, services.clock.now(), with_history=True, t=translator(ctx.language)))


@handles("stage")
def stage(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    reply.say(*change_reply(services.deals.move(ctx, number=parsed.ref, stage_query=parsed.stage), translator(ctx.language)))


@handles("move")
def move(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    result = services.deals.change_pipeline(ctx, number=parsed.ref, pipeline_query=parsed.text or "")
    reply.say(*change_reply(result, translator(ctx.language)))


@handles("won")
def won(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    reply.say(*change_reply(services.deals.win(ctx, number=parsed.ref), translator(ctx.language)))


@handles("lost")
def lost(services: Services, ctx: Context, parsed: Command, request: requests.CommandRequest, reply: Replier, client: WebClient) -> None:
    reply.say(*change_reply(services.deals.lose(ctx, parsed.text or "", number=parsed.ref), translator(ctx.language)))


# ----- modals, buttons, shortcuts -----------------------------------------------------------------

def register(app: App, services: Services) -> None:
    deals = services.deals

    @on_submission(app.view(NEW_MODAL))
    def create(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        """The deal is validated and saved before the ack, so the modal can show what is wrong.
        Everything the new deal sends (its card, the note to the submitter, routing) is an outbox row of its transaction."""
        t = READERS.configured()  # until the context says whose language
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            choices = services.workspaces.form_choices(ctx, pipeline_id=parse_id(request.values.get("pipeline")))
            draft, errors = validate_new_opportunity(request.values, choices, default_owner=ctx.user_id, t=t)
            if draft is not None and (problem := deals.owner_problem(ctx, draft.owner_id)):
                errors = {"owner": problem}
            if draft is None or errors:
                ack(response_action="errors", errors=errors)
                return
            deals.create(ctx, draft, channel_id=requests.conversation_id(request.metadata.get("channel")))
        except OppError as exc:
            ack(response_action="errors", errors={stage_key(request.values): exc.text(t)})
            return
        ack()

    @after_ack(app.action(NEW_PIPELINE_SELECT))
    def new_form_pipeline_chosen(body: dict, client: WebClient) -> None:
        """Another pipeline picked in the New opportunity form: the form is redrawn with its stages (the other fields keep
        what was typed: their block ids stay, the stage's changes)."""
        shown = requests.shown_view(body)
        if shown is None:
            return
        request = requests.action(body)
        ctx = services.workspaces.context(request.team_id, request.user_id)
        choices = services.workspaces.form_choices(ctx, pipeline_id=parse_id(request.value))
        redraw(client, shown, new_opportunity_modal(choices, owner_id=ctx.user_id, metadata=shown.metadata, name=shown.values.get("name"),
                                                    notes=shown.values.get("notes"), t=translator(ctx.language)))

    def lost_submitted(body: dict, context: BoltContext) -> None:
        """An ephemeral card can't be chat.update'd: it is replaced through the response_url it came with."""
        lost_card = context.get("lost_card")
        response_url = requests.web_url(requests.submission(body).metadata.get("response_url"))
        if lost_card is not None and response_url:
            card, stages, language = lost_card
            text, blocks = card_message(card, stages, services.clock.now(), t=translator(language))
            WebhookClient(response_url).send(replace_original=True, text=text, blocks=blocks)

    @on_submission(app.view(LOST_MODAL), then=lost_submitted)
    def lose(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        t = READERS.configured()  # until the context says whose language
        opp_id = requests.metadata_id(request.metadata.get("opp"))
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            reason, problem = validate_lost_reason(request.values.get("reason"), t=t)
            if problem:
                ack(response_action="errors", errors={"reason": problem})
                return
            if opp_id is None:
                raise Invalid(N_("This form doesn't name an opportunity any more; click Lost on the card again."))
            result = deals.lose(ctx, reason or "", opp_id=opp_id)
        except OppError as exc:
            ack(response_action="errors", errors={"reason": exc.text(t)})
            return
        if result.changed:
            context["lost_card"] = (result.card, ctx.pipelines, ctx.language)
        ack()

    def after_change(request: requests.ActionRequest, reply: Replier, result: ChangeResult, ctx: Context) -> None:
        t = translator(ctx.language)
        if request.is_ephemeral and result.changed:
            # Ephemeral cards can't be chat.update'd: replace them through the response_url.
            reply.replace(*card_message(result.card, ctx.pipelines, services.clock.now(), t=t))
        reply.say(*change_reply(result, t))

    @on_action(app.action(STAGE_SELECT))
    def stage_selected(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        opp_id, _, stage_id = request.value.partition(":")
        if parse_id(opp_id) is None or parse_id(stage_id) is None:
            raise Invalid(N_("That stage choice is not valid."))
        ctx = services.workspaces.context(request.team_id, request.user_id)
        reply.t = translator(ctx.language)
        after_change(request, reply, deals.move(ctx, opp_id=int(opp_id), stage_id=int(stage_id)), ctx)

    @on_action(app.action(WON_BUTTON))
    def won_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        ctx = services.workspaces.context(request.team_id, request.user_id)
        reply.t = translator(ctx.language)
        after_change(request, reply, deals.win(ctx, opp_id=named_id(request.value, "an opportunity")), ctx)

    @on_action(app.action(LOST_BUTTON))
    def lost_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        ctx = services.workspaces.context(request.team_id, request.user_id)
        reply.t = t = translator(ctx.language)
        opp = deals.check_changeable(ctx, named_id(request.value, "an opportunity"))  # refuse before asking for a reason
        response_url = request.response_url if request.is_ephemeral else None
        open_view(client, request.trigger_id, lost_reason_modal(opp, {"opp": opp.id, "response_url": response_url}, t=t))

    def show_details(request: requests.ActionRequest, client: WebClient) -> None:
        t = READERS.configured()
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id)
            t = translator(ctx.language)
            card = deals.card(ctx, opp_id=named_id(request.value, "an opportunity"), with_history=True)
        except OppError as exc:
            open_view(client, request.trigger_id, notice_modal("oppbot", t(":warning: {problem}", problem=exc.text(t)), t=t))
            return
        open_view(client, request.trigger_id, card_details_modal(card, ctx.pipelines, services.clock.now(), t=t))

    @after_ack(app.action(DETAILS_BUTTON))
    def details_clicked(body: dict, client: WebClient) -> None:
        show_details(requests.action(body), client)

    @on_action(app.action(CARD_MORE))
    def more_chosen(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        """The card's More menu: each option is the control it stands for, answered by that control's own listener."""
        action, _, value = request.value.rpartition(":")
        if action not in MORE_ACTIONS or parse_id(value) is None:
            raise Invalid(N_("That choice is not valid."))
        chosen = replace(request, action_id=action, value=value)
        if action == DETAILS_BUTTON:
            show_details(chosen, client)
        elif (listener := action_listener(app, action)) is not None:
            listener(chosen, reply, client)
        else:
            raise Invalid(N_("That choice is not valid."))

    @on_action(app.action(MOVE_PIPELINE_BUTTON))
    def move_pipeline_clicked(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        ctx = services.workspaces.context(request.team_id, request.user_id)
        reply.t = t = translator(ctx.language)
        opp, target, stage = deals.pipeline_move_form(ctx, named_id(request.value, "an opportunity"))  # refuse before the form
        metadata = {"opp": opp.id, "response_url": request.response_url, "ephemeral": request.is_ephemeral}
        open_view(client, request.trigger_id, move_pipeline_modal(opp, ctx.pipelines, target, stage.id, metadata, t=t))

    @after_ack(app.action(MOVE_PIPELINE_SELECT))
    def move_form_pipeline_chosen(body: dict, client: WebClient) -> None:
        shown = requests.shown_view(body)
        opp_id = requests.metadata_id(shown.metadata.get("opp")) if shown is not None else None
        if shown is None or opp_id is None:
            return
        request = requests.action(body)
        ctx = services.workspaces.context(request.team_id, request.user_id)
        try:
            opp, target, stage = deals.landing_stage(ctx, opp_id, parse_id(request.value))
        except OppError as exc:
            log.info("the Move to another pipeline form can't be redrawn: %s", exc)
            return
        redraw(client, shown, move_pipeline_modal(opp, ctx.pipelines, target, stage.id, shown.metadata, t=translator(ctx.language)))

    def moved_told(body: dict, context: BoltContext) -> None:
        """The answer to the mover, through the response_url of the card they chose it on (an ephemeral card is replaced too)."""
        moved = context.get("moved_pipeline")
        metadata = requests.submission(body).metadata
        response_url = requests.web_url(metadata.get("response_url"))
        if moved is None or not response_url:
            return
        result, pipelines, language = moved
        t = translator(language)
        webhook = WebhookClient(response_url)
        if metadata.get("ephemeral") is True:
            text, blocks = card_message(result.card, pipelines, services.clock.now(), t=t)
            webhook.send(replace_original=True, text=text, blocks=blocks)
        text, offer = change_reply(result, t)
        webhook.send(response_type="ephemeral", replace_original=False, text=text, blocks=offer)

    @on_submission(app.view(MOVE_PIPELINE_MODAL), then=moved_told)
    def move_pipeline_submitted(ack: Ack, request: requests.SubmissionRequest, context: BoltContext) -> None:
        t = READERS.configured()  # until the context says whose language
        opp_id = requests.metadata_id(request.metadata.get("opp"))
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id, within_ack=True)
            t = translator(ctx.language)
            picked, errors = validate_pipeline_move(request.values, ctx.pipelines.active, t=t)
            if picked is None:
                ack(response_action="errors", errors=errors)
                return
            if opp_id is None:
                raise Invalid(N_("This form doesn't name an opportunity any more; choose Move to another pipeline on the card again."))
            pipeline, stage_id = picked
            result = deals.change_pipeline(ctx, opp_id=opp_id, pipeline_id=pipeline.id, stage_id=stage_id)
        except OppError as exc:
            ack(response_action="errors", errors={"pipeline": exc.text(t)})
            return
        context["moved_pipeline"] = (result, ctx.pipelines, ctx.language)
        ack()

    @on_action(app.action(LIST_PAGE_BUTTON))
    def next_page(request: requests.ActionRequest, reply: Replier, client: WebClient) -> None:
        owner, stage_id, offset = read_page_button(request.value)
        ctx = services.workspaces.context(request.team_id, request.user_id)
        listed = deals.list_open(ctx, owner_id=owner, stage_id=stage_id, offset=offset)
        reply.t = t = translator(ctx.language)
        reply.replace(listed_text(listed.total, t), list_blocks(listed, ctx.pipelines, services.clock.now(), viewer_id=ctx.user_id, t=t))

    @after_ack(app.action(HOME_NEW_BUTTON))
    def home_new(body: dict, client: WebClient) -> None:
        request = requests.action(body)
        open_new_form(services, client, services.workspaces.context(request.team_id, request.user_id), request.trigger_id, None)

    @after_ack(app.shortcut(NEW_SHORTCUT))
    def new_from_shortcut(body: dict, client: WebClient) -> None:
        request = requests.shortcut(body)
        open_new_form(services, client, services.workspaces.context(request.team_id, request.user_id), request.trigger_id, None)

    @after_ack(app.shortcut(FROM_MESSAGE_SHORTCUT))
    def new_from_message(body: dict, client: WebClient) -> None:
        request = requests.shortcut(body)
        link = services.slack.permalink(request.channel_id, request.message_ts) if request.channel_id and request.message_ts else None
        ctx = services.workspaces.context(request.team_id, request.user_id)
        open_new_form(services, client, ctx, request.trigger_id, request.channel_id,
                      notes=notes_from_message(request.message_text, link, t=translator(ctx.language)))
