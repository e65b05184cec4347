"""Wiring: settings + clock + storage + Slack client -> the services and a Bolt app with their listeners. No I/O at import."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.middleware.authorization.single_team_authorization import SingleTeamAuthorization
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from sqlalchemy.engine import Engine

from bot.domain.clock import Clock, SystemClock
from bot.domain.values import Installation
from bot.logs import quiet_slack_sdk
from bot.metrics import Metrics
from bot.outbox.dispatcher import Dispatcher
from bot.services import Services, build_services
from bot.settings import Settings
from bot.slack.gateway import SlackGateway, make_web_client
from bot.slack.pacing import ChannelPacer
from bot.workspace.config import WorkspaceConfig, load_config
from storage.db import make_engine

log = logging.getLogger(__name__)

# Work after an ack is mostly waiting on Slack and the database; Bolt's default of 5 threads would
# queue a burst of clicks behind one slow Web API call.
AFTER_ACK_THREADS = 16


class _TokenFromClientFilter(logging.Filter):
    """Bolt also reads SLACK_BOT_TOKEN from the environment and warns that our client's token wins; it is the same token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_TokenFromClientFilter())
quiet_slack_sdk()  # slack_sdk's DEBUG lines carry tokens and message bodies (bot/logs.py)


@dataclass
class OppBot:
    settings: Settings
    bolt: App
    services: Services
    engine: Engine
    client: WebClient
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def dispatcher(self) -> Dispatcher:
        return self.services.dispatcher

    def sign_in(self, identity: SlackResponse | Mapping[str, Any]) -> Installation:
        """Serve the workspace auth.test named (its answer is `identity`), and nobody else's.

        Bolt's authorization reuses the same answer, so no request waits on an auth.test of its own.
        """
        installation = Installation.from_auth_test(identity.data if isinstance(identity, SlackResponse) else identity)  # type: ignore[arg-type]
        for middleware in self.bolt._middleware_list:
            if isinstance(middleware, SingleTeamAuthorization):
                middleware.auth_test_result = identity  # type: ignore[assignment]  # read with .get() only
        self.services.workspaces.sign_in(installation)
        return installation


def create_app(settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None,
               config: WorkspaceConfig | None = None, client: WebClient | None = None,
               delivery_client: WebClient | None = None, listener_executor: Executor | None = None) -> OppBot:
    from handlers import register_all
    from handlers.fairness import FairExecutor, remember_requester
    from handlers.gate import WorkspaceGate

    engine = engine or make_engine(settings.database_url)
    config = config or load_config(settings.config_path)
    client = client or make_web_client(settings.slack_bot_token, settings.slack_api_url)
    metrics = Metrics()  # this instance's registry (GET /metrics)
    executor = listener_executor or FairExecutor(AFTER_ACK_THREADS, thread_name_prefix="after-ack")
    clock = clock or SystemClock()
    services: Services | None = None
    bolt = App(
        signing_secret=settings.slack_signing_secret,
        client=client,  # carries the bot token
        token_verification_enabled=False,  # auth.test runs in `oppbot run` (OppBot.sign_in), not at construction
        # Each listener acks in the request's own thread and leaves the rest to lazy listeners on
        # the pool below (handlers.listener.after_ack), so an ack never waits behind other work.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        listener_executor=executor,
        before_authorize=WorkspaceGate(lambda: services.workspaces.installation if services else None, executor, language=config.language),
    )
    bolt.use(remember_requester)  # whose share of the after-ack threads each lazy listener takes

    @bolt.use
    def count_slack_calls(context: dict, next: Any) -> None:  # Bolt passes `next` by this name
        metrics.instrument(context["client"])  # Bolt makes a WebClient per request (and copies it for lazy listeners)
        next()

    delivery = SlackGateway(delivery_client or make_web_client(settings.slack_bot_token, settings.slack_api_url, retries=0),
                            pacer=ChannelPacer(lambda: clock.now().timestamp()), metrics=metrics)
    services = build_services(engine, clock, config, SlackGateway(client, metrics=metrics), delivery)
    services.dispatcher.metrics = metrics
    services.digests.on_built = metrics.digest_build.observe
    metrics.watch(engine, clock.now)
    register_all(bolt, services)

    @bolt.error
    def on_error(error: Exception, body: dict, logger: logging.Logger) -> None:
        # Most listeners have acked already; Bolt answers 500 itself when one failed before its ack.
        logger.error("unhandled error for %s", (body or {}).get("type"), exc_info=error)

    return OppBot(settings=settings, bolt=bolt, services=services, engine=engine, client=client, metrics=metrics)
