"""GET /metrics: the Prometheus text of one instance, moved by a command, a click and a delivery."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.outbox.dispatcher import MAX_ATTEMPTS
from bot.slack.ids import STAGE_SELECT


def scrape(slack) -> dict[str, list]:
    reply = slack.get("/metrics")
    assert reply.status == 200
    return {family.name: family.samples for family in text_string_to_metric_families(reply.body)}


def value(families: dict, sample_name: str, **labels: str) -> float:
    family = families.get(sample_name.removesuffix("_total").removesuffix("_count").removesuffix("_sum"), [])
    return sum(s.value for s in family if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_command_a_click_and_a_delivery_move_the_counters(slack):
    before = scrape(slack)
    assert value(before, "oppbot_requests_total", kind="command") == 0
    assert slack.create("Acme rollout").status == 200  # a command, a view submission, a card delivered
    deal = slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1)
    stages = slack.oppbot.services.workspaces.pipelines("T0TEST").default.stages
    slack.click(STAGE_SELECT, selected=f"{deal.id}:{stages[1].id}")
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1, minutes=5)
    slack.deliver()
    after = scrape(slack)
    assert value(after, "oppbot_requests_total", kind="command") == 2
    assert value(after, "oppbot_requests_total", kind="view_submission") == 1
    assert value(after, "oppbot_requests_total", kind="action") == 1
    assert value(after, "oppbot_ack_seconds_count", kind="command") == 2
    assert value(after, "oppbot_slack_api_calls_total", method="chat.postMessage", outcome="ok") >= 2
    assert value(after, "oppbot_slack_api_calls_total", method="views.open", outcome="ok") == 1
    assert value(after, "oppbot_delivery_lateness_seconds_count", kind="reminder") == 1
    assert value(after, "oppbot_delivery_lateness_seconds_sum", kind="reminder") >= 300  # due an hour on, sent five minutes late
    assert value(after, "oppbot_outbox_failed_rows") == 0
    assert value(after, "oppbot_outbox_oldest_due_seconds") == 0
    assert value(after, "oppbot_database_up") == 1
    assert value(after, "oppbot_db_pool_size") >= 1


def test_failures_rate_limits_and_the_backlog(slack):
    assert slack.create("Acme rollout").status == 200
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1)
    families = scrape(slack)
    assert value(families, "oppbot_outbox_rows", kind="reminder", state="pending") == 1
    assert value(families, "oppbot_outbox_oldest_due_seconds") == 0  # due this very second
    slack.clock.advance(minutes=10)
    assert value(scrape(slack), "oppbot_outbox_oldest_due_seconds") == 600
    slack.fake.rate_limit_next("conversations.open", retry_after=1)
    slack.deliver()
    assert value(scrape(slack), "oppbot_slack_api_calls_total", method="conversations.open", outcome="ratelimited") == 1
    slack.fake.server_error_next("conversations.open", status=500, times=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        slack.clock.advance(hours=2)
        slack.deliver()
    families = scrape(slack)
    assert value(families, "oppbot_slack_api_calls_total", method="conversations.open", outcome="error") == MAX_ATTEMPTS
    assert value(families, "oppbot_deliveries_failed_total", kind="reminder") == 1
    assert value(families, "oppbot_outbox_failed_rows") == 1
    assert value(families, "oppbot_outbox_rows", kind="reminder", state="failed") == 1


def test_a_digest_build_is_timed(slack):
    slack.oppbot.services.digests.build_many("T0TEST", [])
    assert value(scrape(slack), "oppbot_digest_build_seconds_count") == 0
    slack.oppbot.metrics.digest_build.observe(0.2)  # what Digests.on_built is given
    assert slack.oppbot.services.digests.on_built == slack.oppbot.metrics.digest_build.observe
    assert value(scrape(slack), "oppbot_digest_build_seconds_count") == 1


def test_each_instance_has_a_registry_of_its_own():
    one, two = Metrics(), Metrics()
    one.requests.labels("command").inc()
    assert two.requests.labels("command")._value.get() == 0
    assert b"oppbot_requests_total" in one.exposition()
