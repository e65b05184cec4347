"""Thin Slack listeners, one module per surface, each with register(app, …)."""

from __future__ import annotations

from slack_bolt import App

from bot.alerts import Alerts
from bot.core import Pipeline
from bot.followups import FollowUps
from handlers import actions, alerts as alert_handlers, commands, events, followups, shortcuts, views


def register_all(app: App, pipeline: Pipeline, follow_ups: FollowUps, alerts: Alerts) -> None:
    commands.register(app, pipeline, follow_ups, alerts)
    alert_handlers.register(app, alerts)
    actions.register(app, pipeline, follow_ups)
    views.register(app, pipeline)
    shortcuts.register(app, pipeline)
    events.register(app, pipeline)
    followups.register(app, follow_ups)
