"""Events API: the App Home tab."""

from __future__ import annotations

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.home.views import home_page_view
from bot.i18n import translator
from bot.services import Services
from bot.slack import requests
from handlers.listener import after_ack


def register(app: App, services: Services) -> None:
    @after_ack(app.event("app_home_opened"))
    def home_opened(event: dict, context: BoltContext, client: WebClient) -> None:
        # Re-rendering is idempotent, so a redelivered event (x-slack-retry-num) does no harm.
        request = requests.home_opened(event, context.get("team_id"))
        if request.tab != "home":
            return
        ctx = services.workspaces.context(request.team_id, request.user_id)
        client.views_publish(user_id=ctx.user_id, view=home_page_view(services.home.page(ctx), ctx.pipelines, t=translator(ctx.language)))
