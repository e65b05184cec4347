"""Thin Slack listeners, one module per surface, each with register(app, services)."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers import (
    actions,
    alerts,
    analytics,
    commands,
    events,
    followups,
    shortcuts,
    views,
)


def register_all(app: App, services: Services) -> None:
    for module in (commands, actions, views, shortcuts, events, followups, alerts, analytics):
        module.register(app, services)
