"""The core services, built once per app and handed to the Slack listeners."""

from __future__ import annotations

from dataclasses import dataclass

from bot.alerts.service import Alerts
from bot.assignment.service import Assignments
from bot.deals.service import Pipeline
from bot.digests.service import Digests
from bot.followups.service import FollowUps
from bot.outbox.dispatcher import Dispatcher
from bot.reports.service import Reports
from bot.slack.gateway import SlackGateway
from bot.teams.service import Teams


@dataclass(frozen=True)
class Services:
    pipeline: Pipeline
    follow_ups: FollowUps
    alerts: Alerts
    teams: Teams
    digests: Digests
    reports: Reports
    assignments: Assignments
    dispatcher: Dispatcher


def build_services(pipeline: Pipeline, delivery_slack: SlackGateway, dispatcher: Dispatcher) -> Services:
    """`delivery_slack` fails fast: the dispatcher reschedules failed deliveries instead of sleeping."""
    teams = Teams(pipeline)
    services = Services(
        pipeline=pipeline,
        follow_ups=FollowUps(pipeline, delivery_slack),
        alerts=Alerts(pipeline, delivery_slack),
        teams=teams,
        digests=Digests(pipeline, teams, delivery_slack),
        reports=Reports(pipeline, teams),
        assignments=Assignments(pipeline, teams),
        dispatcher=dispatcher,
    )
    services.follow_ups.register(dispatcher)
    services.alerts.register(dispatcher)
    services.digests.register(dispatcher)
    return services
