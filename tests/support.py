"""What several test files share: the services wired to a real database and a fake gateway (no HTTP),
deals made through the services, rows read back, and transactions counted with engine events."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from alembic.config import Config
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from bot.domain.clock import FakeClock
from bot.domain.values import Context, OpportunityDraft, OpportunityView
from bot.services import Services, build_services
from bot.workspace.config import parse_config
from storage.db import alembic_config, migration_transaction
from storage.models import Opportunity

TEAM = "T0TEST"

# People the fake gateway knows: user id -> users.info's user (time zone, admin, bot, deactivated).
PEOPLE = {
    "U0REP1": {"tz": "Asia/Shanghai"}, "U0REP2": {"tz": "America/Los_Angeles"}, "U0MGR": {"tz": "Asia/Shanghai"},
    "U0ADMIN": {"tz": "Europe/Berlin"}, "U0OTHER": {"tz": "UTC"}, "U0SLACKADMIN": {"tz": "UTC", "is_admin": True},
    "U0BOTUSER": {"is_bot": True}, "U0GONE": {"deleted": True},
}


def slack_error(method: str, error: str, status: int = 200, headers: dict | None = None) -> SlackApiError:
    response = SlackResponse(client=None, http_verb="POST", api_url=method, req_args={}, data={"ok": False, "error": error},
                             headers=headers or {}, status_code=status)
    return SlackApiError(f"{method} failed: {error}", response)


@dataclass
class FakeGateway:
    """The gateway's methods without HTTP: every call recorded; `fail(method, error)` makes the next one raise."""

    people: dict[str, dict] = field(default_factory=lambda: {user: dict(info) for user, info in PEOPLE.items()})
    calls: list[tuple[str, dict]] = field(default_factory=list)
    failures: dict[str, list[SlackApiError]] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # name -> id, for channel_ids_by_name
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, error: str, *, status: int = 200, retry_after: int | None = None, times: int = 1) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self.failures.setdefault(method, []).extend(slack_error(method, error, status, headers) for _ in range(times))

    def _call(self, method: str, **params: Any) -> None:
        with self._lock:
            self.calls.append((method, params))
            pending = self.failures.get(method)
            failure = pending.pop(0) if pending else None
        if failure is not None:
            raise failure

    def sent(self, method: str) -> list[dict]:
        return [params for name, params in self.calls if name == method]

    def post(self, channel: str, text: str, blocks: list[dict] | None) -> tuple[str, str]:
        self._call("post", channel=channel, text=text, blocks=blocks)
        return channel, f"{next(self._ts)}.000100"

    def dm_channel(self, user_id: str) -> str:
        return f"D{user_id}"

    def dm(self, user_id: str, text: str, blocks: list[dict] | None = None) -> tuple[str, str]:
        return self.post(self.dm_channel(user_id), text, blocks)

    def ephemeral(self, channel: str, user_id: str, text: str, blocks: list[dict] | None = None) -> None:
        self._call("ephemeral", channel=channel, user=user_id, text=text, blocks=blocks)

    def update(self, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
        self._call("update", channel=channel, ts=ts, text=text, blocks=blocks)

    def user_info(self, user_id: str, *, quick: bool = False) -> dict | None:
        self._call("user_info", user=user_id)
        info = self.people.get(user_id)
        return None if info is None else {"id": user_id, "name": user_id.lower(), **info}

    def upload(self, channel: str, content: bytes | str, filename: str, title: str, comment: str | None = None) -> str:
        self._call("upload", channel=channel, filename=filename, title=title, comment=comment, content=content)
        return f"F{next(self._ts)}"

    def join(self, channel: str) -> None:
        self._call("join", channel=channel)

    def channel_ids_by_name(self) -> dict[str, str]:
        self._call("channel_ids_by_name")
        return dict(self.channels)

    def permalink(self, channel: str, ts: str) -> str | None:
        return f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"


# The suite's workspace: a team East of two reps and their manager, one oppbot admin, the built-in stages.
TEST_CONFIG = """
[workspace]
currency = "USD"
timezone = "Asia/Shanghai"
admins = ["U0ADMIN"]

[[teams]]
name = "East"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]
"""


# A workspace with three pipelines, as the pipelines issue describes it: New business (5 stages, the East team's by
# default, the first), Renewals (3, the Accounts team's), Partners (4, nobody's default). Stage names repeat across
# pipelines (Negotiation). Channels: add them to the fake Slack with `add_three_pipeline_channels`.
THREE_PIPELINES_CONFIG = """
[workspace]
currency = "USD"
timezone = "Asia/Shanghai"
admins = ["U0ADMIN"]

[[pipelines]]
name = "New business"
description = "New customers, from first contact to signature"
won_channel = "#wins"
lost_channel = "#wins"

[[pipelines.stages]]
name = "Prospect"
probability = 10
max_days = 14

[[pipelines.stages]]
name = "Solution design"
probability = 30
max_days = 21
alert_channel = "#solutions"

[[pipelines.stages]]
name = "Technical evaluation"
probability = 50
max_days = 30
alert_channel = "#engineering"

[[pipelines.stages]]
name = "Proposal"
probability = 65
max_days = 14

[[pipelines.stages]]
name = "Negotiation"
probability = 80
max_days = 21

[[pipelines]]
name = "Renewals"
description = "Existing customers renewing"
won_channel = "#renewals"

[[pipelines.stages]]
name = "Renewal due"
probability = 40
max_days = 30

[[pipelines.stages]]
name = "Quote sent"
probability = 70
max_days = 14
alert_channel = "#renewals"

[[pipelines.stages]]
name = "Negotiation"
probability = 90
max_days = 10

[[pipelines]]
name = "Partners"
description = "Deals brought by resellers"

[[pipelines.stages]]
name = "Registered"
probability = 10
max_days = 30

[[pipelines.stages]]
name = "Qualified"
probability = 30
max_days = 21
alert_channel = "#partners"

[[pipelines.stages]]
name = "Joint proposal"
probability = 60
max_days = 21

[[pipelines.stages]]
name = "Commit"
probability = 85
max_days = 14

[[teams]]
name = "East"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]

[[teams]]
name = "Accounts"
manager = "U0ADMIN"
members = ["U0OTHER"]
pipeline = "Renewals"
"""

THREE_PIPELINE_CHANNELS = (("C0SOLUTIONS", "solutions"), ("C0ENGINEERING", "engineering"), ("C0WINS", "wins"),
                           ("C0RENEWALS", "renewals"), ("C0PARTNERS", "partners"))


def add_three_pipeline_channels(fake: Any) -> None:
    for channel_id, name in THREE_PIPELINE_CHANNELS:
        fake.add_channel(channel_id, name)


def pipeline_stage_ids(slack: Any, pipeline: str, team: str = TEAM) -> dict[str, int]:
    """{stage name: id} of one pipeline, by the pipeline's name."""
    pipelines = slack.oppbot.services.workspaces.pipelines(team)
    found = next(p for p in pipelines.all if p.name == pipeline)
    return {s.name: s.id for s in found.stages}


def make_services(engine: Engine, clock: FakeClock, config: str = TEST_CONFIG, gateway: FakeGateway | None = None) -> tuple[Services, FakeGateway]:
    """The app's services on a real database, both Slack gateways one fake (no HTTP, no pacing)."""
    gateway = gateway or FakeGateway()
    # the FakeGateway stands in for both SlackGateways: it has their methods, not their class
    return build_services(engine, clock, parse_config(config, "test.toml"), gateway, gateway), gateway  # type: ignore[arg-type]


def context(services: Services, user: str = "U0REP1", team: str = TEAM) -> Context:
    return services.workspaces.context(team, user)


def draft(services: Services, *, team: str = TEAM, owner: str = "U0REP1", stage: int = 0, **extra: Any) -> OpportunityDraft:
    stages = services.workspaces.pipelines(team).default.stages
    fields = dict(name="Deal", customer="Cust", owner_id=owner, stage_id=stages[stage].id, currency="USD")
    fields.update(extra)
    return OpportunityDraft(**fields)


def create(services: Services, user: str = "U0REP1", *, team: str = TEAM, channel: str | None = None, **extra: Any) -> OpportunityView:
    """A deal made through the service, as the New opportunity modal would (owner: the submitter unless said)."""
    extra.setdefault("owner", user)
    opp, _ = services.deals.create(context(services, user, team), draft(services, team=team, **extra), channel_id=channel)
    return opp


def rows(source: Any, model: Any, **where: Any) -> list:
    """The rows of a table (in id order) where the columns equal these values; `source` is an engine or a SlackDriver."""
    engine = source.oppbot.engine if hasattr(source, "oppbot") else source
    with Session(engine) as session:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(session.scalars(query.order_by(model.id)))


def opp(slack: Any, number: int = 1) -> Opportunity:
    [row] = rows(slack, Opportunity, number=number)
    return row


def stage_ids(slack: Any, team: str = TEAM) -> dict[str, int]:
    """The workspace's stage ids by name."""
    return {s.name: s.id for s in slack.oppbot.services.workspaces.pipelines(team).default.stages}


def text_of(blocks: Any) -> str:
    """Every text string in some blocks, one per line, to search in."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


@dataclass
class Transactions:
    """Transactions (BEGIN … COMMIT/ROLLBACK) and statements an engine ran while counting."""

    begun: int = 0
    writes: int = 0  # transactions that committed
    statements: int = 0


@contextmanager
def counting(engine: Engine) -> Iterator[Transactions]:
    """Count the engine's transactions and statements inside the block, from every thread."""
    counts = Transactions()
    lock = threading.Lock()

    def begin(connection: Any) -> None:
        with lock:
            counts.begun += 1

    def commit(connection: Any) -> None:
        with lock:
            counts.writes += 1

    def statement(connection: Any, cursor: Any, sql: str, *args: Any) -> None:
        if sql.lstrip().upper().startswith("BEGIN"):
            return  # SQLite's BEGIN [IMMEDIATE], which storage.db emits itself: the transaction, not a statement
        with lock:
            counts.statements += 1

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", commit)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "commit", commit)
        event.remove(engine, "before_cursor_execute", statement)


@contextmanager
def migrating(engine: Engine, use_schema: str | None) -> Iterator[tuple[Connection, Config]]:
    """One transaction on an `empty_database` (conftest) and the Alembic configuration that migrates through it:
    `command.upgrade(config, "0007")` and so on, with the test's own rows in between."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with migration_transaction(engine) as connection:
        if use_schema:
            connection.execute(text(use_schema))
        config.attributes["connection"] = connection
        yield connection, config
