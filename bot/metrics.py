"""Prometheus metrics of one app instance (`GET /metrics`): a registry per OppBot, never the global default.

Counters and histograms move where the work happens (bot/server.py for requests, the Web API client's
api_call for Slack calls, the dispatcher for deliveries, the digests for their build); the outbox
backlog and the database pool are read when Prometheus scrapes, the backlog in one query.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from storage.db import UnitOfWork
from storage.models import FAILED

CONTENT_TYPE = CONTENT_TYPE_LATEST
REQUEST_KINDS = ("command", "action", "view_submission", "event", "shortcut", "other")
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
LATENESS_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)
DIGEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


def request_kind(body: dict) -> str:
    """command, action, view_submission, event or shortcut, from a Slack request's parsed body."""
    if not isinstance(body, dict):
        return "other"
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind in ("block_actions", "interactive_message", "block_suggestion"):
        return "action"
    if kind in ("view_submission", "view_closed"):
        return "view_submission"
    if kind in ("event_callback", "url_verification", "app_rate_limited"):
        return "event"
    if kind in ("shortcut", "message_action"):
        return "shortcut"
    return "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("oppbot_requests", "Slack requests answered, by kind", ["kind"], registry=r)
        self.ack_seconds = Histogram("oppbot_ack_seconds", "Time from a Slack request's arrival to its ack, by kind", ["kind"],
                                     buckets=ACK_BUCKETS, registry=r)
        self.slack_calls = Counter("oppbot_slack_api_calls", "Slack Web API calls, by method and outcome (ok, error, ratelimited)",
                                   ["method", "outcome"], registry=r)
        self.delivery_lateness = Histogram("oppbot_delivery_lateness_seconds", "Deliveries sent: sent_at - due_at (the first due time), by kind",
                                           ["kind"], buckets=LATENESS_BUCKETS, registry=r)
        self.deliveries_failed = Counter("oppbot_deliveries_failed", "Deliveries flagged failed (for good) by this process, by kind", ["kind"],
                                         registry=r)
        self.digest_build = Histogram("oppbot_digest_build_seconds", "Time to build the digests due together (one pass over the data)",
                                      buckets=DIGEST_BUCKETS, registry=r)
        # time.time() of the last Web API call Slack answered ok (None: none yet)
        self.last_slack_ok: float | None = None
        self._engine: Engine | None = None

    def watch(self, engine: Engine, now: Callable[[], datetime]) -> None:
        """Read the outbox backlog and the pool of `engine` at each scrape."""
        self._engine = engine
        self.registry.register(_OutboxCollector(engine, now))
        self.registry.register(_PoolCollector(engine))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def instrument(self, client: WebClient) -> WebClient:
        """Count every Web API call `client` makes (all its methods go through api_call); once per client."""
        if getattr(client, "_oppbot_metrics", None) == id(self):  # an id, not self: Bolt deep-copies clients
            return client
        original = client.api_call

        @functools.wraps(original)
        def api_call(api_method: str, *args: Any, **kwargs: Any) -> Any:
            try:
                response = original(api_method, *args, **kwargs)
            except SlackApiError as exc:
                status = getattr(exc.response, "status_code", None)
                self.slack_calls.labels(api_method, "ratelimited" if status == 429 else "error").inc()
                raise
            except Exception:
                self.slack_calls.labels(api_method, "error").inc()
                raise
            self.slack_calls.labels(api_method, "ok").inc()
            self.last_slack_ok = time.time()
            return response

        setattr(client, "api_call", api_call)  # noqa: B010  # an instance attribute over the method
        setattr(client, "_oppbot_metrics", id(self))  # noqa: B010
        return client


def outbox_backlog(engine: Engine, now: datetime) -> tuple[dict[tuple[str, str], int], float]:
    """The outbox's backlog (storage.outbox: OutboxRepository.backlog), read at scrape time."""
    with UnitOfWork(engine) as uow:
        return uow.outbox.backlog(now)


class _OutboxCollector:
    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.now = now

    def describe(self) -> Iterable[Metric]:
        return []  # collected from the database at scrape time only

    def collect(self) -> Iterable[Metric]:
        try:
            counts, oldest = outbox_backlog(self.engine, self.now())
        except Exception:
            up = GaugeMetricFamily("oppbot_database_up", "Whether the outbox query answered at this scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("oppbot_database_up", "Whether the outbox query answered at this scrape")
        up.add_metric([], 1)
        yield up
        backlog = GaugeMetricFamily("oppbot_outbox_rows", "Deliveries pending or flagged failed, by kind and state", labels=["kind", "state"])
        for (kind, state), count in sorted(counts.items()):
            backlog.add_metric([kind, state], count)
        yield backlog
        failed = GaugeMetricFamily("oppbot_outbox_failed_rows", "Deliveries flagged failed (all kinds)")
        failed.add_metric([], sum(count for (_, state), count in counts.items() if state == FAILED))
        yield failed
        age = GaugeMetricFamily("oppbot_outbox_oldest_due_seconds", "Age of the oldest pending delivery that is due (0: none is)")
        age.add_metric([], oldest)
        yield age


class _PoolCollector:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        pool: Any = self.engine.pool
        for name, doc, read in (("oppbot_db_pool_checked_out", "Database connections in use", "checkedout"),
                                ("oppbot_db_pool_size", "Database pool size (without overflow)", "size")):
            reader = getattr(pool, read, None)
            if reader is None:
                continue
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], reader())
            yield gauge
