"""Notices the bot sends on its own (to a person by DM, or into a channel), as outbox rows.

A notice is recorded in the transaction of the change that causes it; the dispatcher sends it, paced
per channel and retried, once. A notice recorded as a catalogue entry and its values (`message=N_("…")`,
`values={…}`) is written when it is sent, in its reader's language: a person's (their Slack locale,
else the workspace's), or a channel's (the workspace's). One recorded as `text` (and `blocks`) is sent
as it was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.i18n import ENGLISH, translator
from bot.outbox.dispatcher import Dispatcher, Sent
from bot.slack.gateway import SlackGateway
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.models import Delivery

MESSAGE = "message"


def schedule_message(uow: UnitOfWork, *, team_id: str, key: str, text: str | None = None, blocks: list[dict] | None = None,
                     message: str | None = None, values: Mapping[str, str | int] | None = None, user_id: str | None = None,
                     channel_id: str | None = None, now: datetime, subject_id: int = 0) -> None:
    """A DM to `user_id`, or a post in `channel_id`; `key` makes it once only. Either `text` as written, or
    `message` (a catalogue entry, marked N_) with its `values` (strings and numbers), translated when sent."""
    if (user_id is None) == (channel_id is None):
        raise ValueError("a notice goes to a user or a channel")
    if (text is None) == (message is None):
        raise ValueError("a notice has a text, or a catalogue message")
    payload: dict = {"user": user_id, "channel": channel_id, "text": text, "blocks": blocks}
    if message is not None:
        payload.update(message=message, values=dict(values or {}))
    uow.outbox.schedule(team_id=team_id, kind=MESSAGE, subject_id=subject_id, dedupe_key=f"message:{key}", due_at=now, now=now, payload=payload)


class Messages:
    def __init__(self, slack: SlackGateway, uow: UnitOfWorkFactory | None = None) -> None:
        self.slack = slack
        self.uow = uow  # to read a reader's language; without it, catalogue notices are sent in English

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(MESSAGE, self.send)

    def _language(self, delivery: Delivery) -> str:
        if self.uow is None:
            return ENGLISH
        user = delivery.payload.get("user")
        with self.uow() as uow:
            if user:
                return uow.workspaces.reader_language(delivery.team_id, user)
            workspace = uow.workspaces.view(delivery.team_id)
            return workspace.language if workspace else ENGLISH

    def send(self, delivery: Delivery, now: datetime) -> Sent:
        payload = delivery.payload
        text = payload.get("text") or ""
        if payload.get("message"):
            text = translator(self._language(delivery))(payload["message"], **(payload.get("values") or {}))
        if payload.get("user"):
            return Sent(*self.slack.dm(payload["user"], text, payload.get("blocks")))
        return Sent(*self.slack.post(payload["channel"], text, payload.get("blocks")))
