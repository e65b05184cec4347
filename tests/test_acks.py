"""Slack gets its answer in the request's own thread: no ack waits for a listener thread, and what
runs after the ack is still done, and logged with its traceback when it fails."""

from __future__ import annotations

import logging
import re
import threading

from handlers.fairness import requested_by
from tests.test_flows_misc import home_event
from tests.test_flows_stages import changes, new_deal, select_stage, stage_ids


def occupy_every_worker(slack) -> threading.Event:
    """Fill the after-ack pool with tasks that wait for the returned gate (from many people: one person gets only a share)."""
    gate = threading.Event()
    started = threading.Barrier(slack.executor.max_workers + 1)

    def hold() -> None:
        started.wait(timeout=10)
        gate.wait(timeout=30)

    for n in range(slack.executor.max_workers):
        with requested_by(("T0TEST", f"U0HOLDER{n}")):
            slack.executor.submit(hold)
    started.wait(timeout=10)
    return gate


def test_commands_clicks_and_events_are_acked_while_every_worker_is_busy(slack):
    deal, card = new_deal(slack, "Alpha")
    calls_before = len(slack.fake.calls())

    gate = occupy_every_worker(slack)
    try:
        listed = slack.command("list", wait=False)
        helped = slack.command("help", wait=False)
        clicked = select_stage(slack, deal, card, "Negotiation", wait=False)
        home = slack.event(home_event(), wait=False)
        # All answered without a free worker, and none of the work after the acks has started.
        assert (listed.status, listed.body) == (200, "")
        assert helped.status == 200 and "oppbot help" in helped.body
        assert (clicked.status, clicked.body) == (200, "")
        assert home.status == 200
        assert len(slack.fake.calls()) == calls_before
        assert [c.to_stage_id for c in changes(slack, deal.id)] == [stage_ids(slack)["Prospect"]]
    finally:
        gate.set()
    slack.executor.drain()
    slack.deliver(slack.deliver_after_each)  # the card refresh is an outbox row of the stage change

    assert slack.responses()[0]["text"] == "1 open opportunity"
    assert [c.to_stage_id for c in changes(slack, deal.id)] == [stage_ids(slack)["Prospect"], stage_ids(slack)["Negotiation"]]
    assert [c.params["ts"] for c in slack.fake.calls("chat.update")] == [card.ts]
    assert [c.params["user_id"] for c in slack.fake.calls("views.publish")] == ["U0REP1"]


def test_a_failure_after_the_ack_is_logged_with_where_it_came_from(slack, caplog):
    slack.create("Alpha")
    slack.fake.fail_next("views.publish", "internal_error")

    with caplog.at_level(logging.ERROR, logger="handlers.listener"):
        assert slack.event(home_event()).status == 200

    [record] = [r for r in caplog.records if r.name == "handlers.listener"]
    assert re.fullmatch(r"home_opened after its ack \[[0-9a-f]{8}\] failed", record.getMessage())
    assert record.exc_info is not None and "internal_error" in str(record.exc_info[1])
    reference = record.getMessage().split("[")[1].split("]")[0]
    told = slack.fake.calls("views.publish")[-1].params["view"]
    assert f"reference {reference}" in str(told), "the person is told on the Home tab, with the reference of the log line"
