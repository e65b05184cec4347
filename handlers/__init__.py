"""Thin Slack listeners, one module per surface, each with register(app, pipeline)."""

from __future__ import annotations

from slack_bolt import App

from bot.core import Pipeline
from handlers import actions, commands, events, shortcuts, views


def register_all(app: App, pipeline: Pipeline) -> None:
    for module in (commands, actions, views, shortcuts, events):
        module.register(app, pipeline)
