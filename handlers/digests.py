"""The digest's Full report button."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.digests.views import digest_modal
from bot.domain.values import OppError, parse_id
from bot.i18n import ENGLISH, translator
from bot.services import Services
from bot.slack import requests
from bot.slack.ids import DIGEST_FULL_BUTTON
from handlers.listener import after_ack, notice_modal, open_view


def register(app: App, services: Services) -> None:
    @after_ack(app.action(DIGEST_FULL_BUTTON))
    def full_report(body: dict, client: WebClient) -> None:
        request = requests.action(body)
        t = translator(ENGLISH)  # until the clicker's language is known
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id)
            t = translator(ctx.language)
            view = digest_modal(*services.digests.full_report(ctx.actor, parse_id(request.value)), ctx.pipelines, t=t)
        except OppError as exc:
            open_view(client, request.trigger_id, notice_modal("oppbot", f":warning: {exc.text(t)}", t=t))
            return
        open_view(client, request.trigger_id, view)
