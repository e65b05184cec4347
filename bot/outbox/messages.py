"""Notices the bot sends on its own (to a person by DM, or into a channel), as outbox rows.

A notice is rendered when the change that causes it is recorded and written in that change's
transaction; the dispatcher sends it, paced per channel and retried, once.
"""

from __future__ import annotations

from datetime import datetime

from bot.outbox.dispatcher import Dispatcher, Sent
from bot.slack.gateway import SlackGateway
from storage.db import UnitOfWork
from storage.models import Delivery

MESSAGE = "message"


def schedule_message(uow: UnitOfWork, *, team_id: str, key: str, text: str, blocks: list[dict] | None = None, user_id: str | None = None,
                     channel_id: str | None = None, now: datetime, subject_id: int = 0) -> None:
    """A DM to `user_id`, or a post in `channel_id`; `key` makes it once only."""
    if (user_id is None) == (channel_id is None):
        raise ValueError("a notice goes to a user or a channel")
    uow.outbox.schedule(team_id=team_id, kind=MESSAGE, subject_id=subject_id, dedupe_key=f"message:{key}", due_at=now, now=now,
                        payload={"user": user_id, "channel": channel_id, "text": text, "blocks": blocks})


class Messages:
    def __init__(self, slack: SlackGateway) -> None:
        self.slack = slack

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(MESSAGE, self.send)

    def send(self, delivery: Delivery, now: datetime) -> Sent:
        payload = delivery.payload
        if payload.get("user"):
            return Sent(*self.slack.dm(payload["user"], payload["text"], payload.get("blocks")))
        return Sent(*self.slack.post(payload["channel"], payload["text"], payload.get("blocks")))
