"""Events API: the App Home tab."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.services import Services
from handlers.common import after_ack


def register(app: App, services: Services) -> None:
    pipeline = services.pipeline

    @after_ack(app.event("app_home_opened"))
    def home_opened(event: dict, context: dict, client: WebClient) -> None:
        # Re-rendering is idempotent, so a redelivered event (x-slack-retry-num) does no harm.
        if event.get("tab") != "home":
            return
        actor = pipeline.actor(context["team_id"], event["user"])
        client.views_publish(user_id=actor.user_id, view=pipeline.home(actor))
