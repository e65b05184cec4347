"""Thin Slack listeners, one module per feature, each with register(app, services); /opp subcommands bind with handles(name)."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers import (
    alerts,
    assignment,
    commands,
    deals,
    digests,
    followups,
    home,
    reports,
    teams,
    workspace,
)

FEATURES = (deals, workspace, home, followups, alerts, assignment, teams, digests, reports)


def register_all(app: App, services: Services) -> None:
    for module in FEATURES:
        module.register(app, services)
    commands.register(app, services)
