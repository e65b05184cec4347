"""The use cases, built once per process from the engine, the clock, the configuration and two Slack
gateways, and the outbox senders registered with the dispatcher. No I/O at construction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.alerts.service import Alerts, AlertSenders
from bot.assignment.service import Assignments
from bot.deals.cards import Cards
from bot.deals.service import Deals
from bot.digests.service import Digests
from bot.domain.clock import Clock
from bot.followups.service import FollowUps, FollowUpSenders
from bot.home.service import Home
from bot.outbox.dispatcher import Dispatcher, WakeUp
from bot.outbox.messages import Messages
from bot.reports.service import Reports, ReportSenders
from bot.slack.gateway import SlackGateway
from bot.teams.service import Teams
from bot.workspace.config import WorkspaceConfig
from bot.workspace.service import Workspaces
from storage.db import UnitOfWork


@dataclass(frozen=True)
class Services:
    """The use cases, built once per app and handed to the Slack listeners."""

    clock: Clock
    slack: SlackGateway  # the interactive gateway: answers to the person who acted
    workspaces: Workspaces
    deals: Deals
    home: Home
    follow_ups: FollowUps
    alerts: Alerts
    assignments: Assignments
    teams: Teams
    digests: Digests
    reports: Reports
    dispatcher: Dispatcher
    wake: WakeUp
    alert_senders: AlertSenders


def build_services(engine: Engine, clock: Clock, config: WorkspaceConfig, interactive: SlackGateway, delivery: SlackGateway) -> Services:
    """`delivery` fails fast and is paced per channel: the dispatcher reschedules failed deliveries instead of sleeping."""

    def uow(write: bool = False) -> UnitOfWork:
        return UnitOfWork(engine, write=write)

    wake = WakeUp()
    workspaces = Workspaces(uow, clock, config, interactive)
    dispatcher = Dispatcher(uow, clock, team_ids=workspaces.team_ids)
    teams = Teams(uow, workspaces.ensure_workspace, workspaces.check_owner)
    assignments = Assignments(uow, clock, workspaces.check_owner, workspaces.timezone_of, wake)
    follow_ups = FollowUps(uow, clock, workspaces.check_owner, wake)
    digests = Digests(uow, clock, teams, delivery, workspaces.team_ids)
    alert_senders = AlertSenders(uow, delivery, workspaces.ensure_workspace)
    services = Services(
        clock=clock, slack=interactive, workspaces=workspaces,
        deals=Deals(uow, clock, assignments.route, workspaces.check_owner, wake),
        home=Home(uow, clock, follow_ups), follow_ups=follow_ups, alerts=Alerts(uow, clock, wake), assignments=assignments,
        teams=teams, digests=digests, reports=Reports(uow, clock, teams, wake), dispatcher=dispatcher, wake=wake, alert_senders=alert_senders,
    )
    for senders in (Cards(uow, delivery), Messages(delivery, uow), FollowUpSenders(uow, delivery), alert_senders, digests,
                    ReportSenders(uow, delivery)):
        senders.register(dispatcher)
    return services
