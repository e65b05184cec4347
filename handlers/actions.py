"""Buttons and selects: on opportunity cards, in lists, and on the App Home tab."""

from __future__ import annotations

import json

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.deals.service import ChangeResult
from bot.deals.views import details_modal, list_blocks, lost_reason_modal
from bot.domain.stages import check_change
from bot.domain.values import OppError, parse_id
from bot.services import Services
from bot.slack.ids import (
    DETAILS_BUTTON,
    HOME_NEW_BUTTON,
    LIST_PAGE_BUTTON,
    LOST_BUTTON,
    STAGE_SELECT,
    WON_BUTTON,
)
from handlers.common import (
    after_ack,
    notice_modal,
    open_new_opportunity,
    open_view,
    tell_clicker,
)
from handlers.rendering import card_message, change_reply


def _action(body: dict) -> dict:
    return (body.get("actions") or [{}])[0]


def _is_ephemeral(body: dict) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def register(app: App, services: Services) -> None:
    pipeline, follow_ups = services.pipeline, services.follow_ups

    def _after_change(body: dict, respond: Respond, client: WebClient, result: ChangeResult) -> None:
        if _is_ephemeral(body) and result.changed:
            # Ephemeral cards can't be chat.update'd: replace them through the response_url.
            respond(replace_original=True, **card_message(pipeline, result.opportunity))
        if body.get("response_url"):
            respond(**change_reply(follow_ups, result))
        else:
            tell_clicker(body, respond, client, result.message)

    @after_ack(app.action(STAGE_SELECT))
    def stage_selected(body: dict, respond: Respond, client: WebClient) -> None:
        value = ((_action(body).get("selected_option") or {}).get("value") or "")
        opp_id, _, stage_id = value.partition(":")
        if parse_id(opp_id) is None or parse_id(stage_id) is None:
            tell_clicker(body, respond, client, ":warning: That stage choice is not valid.")
            return
        try:
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = pipeline.move(actor, int(opp_id), stage_id=int(stage_id))
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        _after_change(body, respond, client, result)

    @after_ack(app.action(WON_BUTTON))
    def won_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        opp_id = parse_id(_action(body).get("value"))
        try:
            if opp_id is None:
                raise OppError("That button doesn't name an opportunity.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            result = pipeline.win(actor, opp_id)
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        _after_change(body, respond, client, result)

    @after_ack(app.action(LOST_BUTTON))
    def lost_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        opp_id = parse_id(_action(body).get("value"))
        try:
            if opp_id is None:
                raise OppError("That button doesn't name an opportunity.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            opp = pipeline.find(actor, opp_id=opp_id)
            check_change(actor, opp)  # refuse before asking for a reason
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        response_url = body.get("response_url") if _is_ephemeral(body) else None
        open_view(client, body["trigger_id"], lost_reason_modal(opp, {"opp": opp.id, "response_url": response_url}))

    @after_ack(app.action(DETAILS_BUTTON))
    def details_clicked(body: dict, client: WebClient) -> None:
        opp_id = parse_id(_action(body).get("value"))
        try:
            if opp_id is None:
                raise OppError("That button doesn't name an opportunity.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            opp = pipeline.find(actor, opp_id=opp_id)
        except OppError as exc:
            open_view(client, body["trigger_id"], notice_modal("oppbot", f":warning: {exc}"))
            return
        stages = pipeline.stage_model(opp.team_id)
        entries = pipeline.history(opp)
        view = details_modal(pipeline.card(opp, stages)[1], opp, stages, entries, pipeline.clock.now(), pipeline.history_omitted(opp, len(entries)))
        open_view(client, body["trigger_id"], view)

    @after_ack(app.action(LIST_PAGE_BUTTON))
    def next_page(body: dict, respond: Respond, client: WebClient) -> None:
        try:
            state = json.loads(_action(body).get("value") or "{}")
            owner, stage_id, offset = str(state["o"]), state.get("s"), int(state["n"])
        except (ValueError, KeyError, TypeError):
            tell_clicker(body, respond, client, ":warning: That page button is not valid any more; run `/opp list` again.")
            return
        try:
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            stages = pipeline.stage_model(actor.team_id)
            stage_name = stages.name_of(stage_id) if isinstance(stage_id, int) else None
            page = pipeline.list_open(actor, owner_id=owner, stage_query=stage_name, offset=offset)
        except OppError as exc:
            tell_clicker(body, respond, client, f":warning: {exc}")
            return
        respond(replace_original=True, text=f"{page.total} open opportunities",
                blocks=list_blocks(page, stages, pipeline.clock.now(), viewer_id=actor.user_id))

    @after_ack(app.action(HOME_NEW_BUTTON))
    def home_new(body: dict, client: WebClient) -> None:
        open_new_opportunity(client, pipeline, team_id=body["team"]["id"], user_id=body["user"]["id"],
                             trigger_id=body["trigger_id"], channel_id=None)
