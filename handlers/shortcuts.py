"""Global and message shortcuts."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.deals.forms import NOTES_MAX
from bot.services import Services
from bot.slack.ids import FROM_MESSAGE_SHORTCUT, NEW_SHORTCUT
from handlers.common import after_ack, open_new_opportunity


def register(app: App, services: Services) -> None:
    pipeline = services.pipeline

    @after_ack(app.shortcut(NEW_SHORTCUT))
    def new_from_shortcut(shortcut: dict, client: WebClient) -> None:
        open_new_opportunity(client, pipeline, team_id=shortcut["team"]["id"], user_id=shortcut["user"]["id"],
                             trigger_id=shortcut["trigger_id"], channel_id=None)

    @after_ack(app.shortcut(FROM_MESSAGE_SHORTCUT))
    def new_from_message(shortcut: dict, client: WebClient) -> None:
        channel_id = (shortcut.get("channel") or {}).get("id")
        message = shortcut.get("message") or {}
        link = pipeline.slack.permalink(channel_id, message.get("ts", "")) if channel_id and message.get("ts") else None
        suffix = f"\n\nFrom {link}" if link else ""
        text = (message.get("text") or "").strip()
        room = NOTES_MAX - len(suffix)
        notes = (text if len(text) <= room else text[: room - 1] + "…") + suffix
        open_new_opportunity(client, pipeline, team_id=shortcut["team"]["id"], user_id=shortcut["user"]["id"],
                             trigger_id=shortcut["trigger_id"], channel_id=channel_id, notes=notes.strip() or None)
