"""Logs: JSON lines with LOG_FORMAT=json, and no token, signing secret or message body at any level."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import ContextFilter, JsonFormatter, log_context
from bot.settings import SettingsError, load_settings
from bot.slack.ids import STAGE_SELECT
from tests.driver import SIGNING_SECRET

BODY_TEXT = "Zanzibar quokka rollout"  # the deal's name: in every card, never in a log line


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def everything():
    root = logging.getLogger()
    handler, level = Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_full_flow_at_debug_logs_no_secret_and_no_message_body(slack, everything):
    assert slack.create(BODY_TEXT).status == 200  # a new opportunity, its card delivered
    deal = slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1)
    stages = slack.oppbot.services.workspaces.pipelines("T0TEST").default.stages
    slack.click(STAGE_SELECT, selected=f"{deal.id}:{stages[1].id}")  # a stage change
    slack.command(f"followup OPP-1 in 1 hour {BODY_TEXT} call")
    slack.clock.advance(hours=1)
    slack.deliver()  # a delivery
    slack.fake.fail_next("chat.postMessage", "channel_not_found")
    slack.fake.server_error_next("chat.update", status=500, times=5)
    slack.click(STAGE_SELECT, selected=f"{deal.id}:{stages[2].id}")  # an error along the way
    slack.command("frobnicate")  # an error reply
    slack.deliver()
    assert logging.getLogger("slack_sdk.web.base_client").isEnabledFor(logging.DEBUG), "slack_sdk's DEBUG is dropped by a filter, not a level"
    secrets = {"bot token": slack.fake.bot_token, "app token": slack.fake.app_token, "signing secret": SIGNING_SECRET, "message body": BODY_TEXT}
    for line in everything.lines:
        for what, secret in secrets.items():
            assert secret not in line, f"{what} in a log line: {line[:300]}"


def test_json_lines_carry_the_context():
    record = logging.LogRecord("bot.outbox", logging.WARNING, __file__, 1, "delivery %s failed", (7,), None)
    with log_context(team="T0TEST", delivery_id=7), log_context(user="U0REP1", request_kind="action"):
        ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "team", "user", "request_kind", "delivery_id")} == {
        "level": "WARNING", "logger": "bot.outbox", "message": "delivery 7 failed", "team": "T0TEST", "user": "U0REP1",
        "request_kind": "action", "delivery_id": 7}
    assert line["timestamp"].endswith("+00:00")
    plain = logging.LogRecord("bot", logging.INFO, __file__, 1, "hello", (), None)
    ContextFilter().filter(plain)
    assert set(json.loads(JsonFormatter().format(plain))) == {"timestamp", "level", "logger", "message"}


def test_requests_label_their_log_lines(slack, everything):
    seen: list[dict] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith(("bot", "handlers")):
                seen.append({k: getattr(record, k, None) for k in ("team", "user", "request_kind")})

    spy = Spy(logging.DEBUG)
    spy.addFilter(ContextFilter())
    logging.getLogger().addHandler(spy)
    try:
        slack.command("frobnicate")
    finally:
        logging.getLogger().removeHandler(spy)
    from bot.logs import current_context
    assert current_context() == {}, "nothing leaks out of a request"
    assert all(entry["team"] in (None, "T0TEST") for entry in seen)


def test_log_format_setting():
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert load_settings(base).log_format == "text"
    assert load_settings({**base, "LOG_FORMAT": "JSON"}).log_format == "json"
    assert load_settings({**base, "OPPBOT_METRICS_PORT": "9100"}).metrics_port == 9100
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings({**base, "LOG_FORMAT": "xml"})
