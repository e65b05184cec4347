"""The shape the architecture promises, measured: one request = one write transaction (App Home: two
reads), and the map in ARCHITECTURE.md names every feature's three places."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.slack.commands import REGISTRY
from bot.slack.ids import STAGE_SELECT
from storage.models import Opportunity, PostedCard
from tests.driver import AFTER_EACH_REQUEST
from tests.support import Transactions, counting, rows

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ("deals", "workspace", "home", "followups", "alerts", "assignment", "teams", "digests", "reports")


def warm(slack) -> tuple[Opportunity, PostedCard]:
    """A deal with its card posted, and every person's profile cached (users.info is once a day)."""
    assert slack.create("Acme rollout").status == 200
    for user in ("U0REP1", "U0MGR"):
        slack.command("list", user=user)
    deal = rows(slack.oppbot.engine, Opportunity)[-1]
    [card] = rows(slack.oppbot.engine, PostedCard)
    return deal, card


def one_request(slack, act) -> Transactions:
    """Transactions of one request from Slack, up to its answer: what the bot then delivers on its own is not counted."""
    slack.deliver_after_each = ()
    try:
        with counting(slack.oppbot.engine) as counts:
            act()
    finally:
        slack.deliver_after_each = AFTER_EACH_REQUEST
    return counts


def assert_one_write(counts: Transactions) -> None:
    # the request context's read, then the use case's transaction: its checks and its writes together
    assert (counts.begun, counts.writes) == (2, 1), counts


def test_opp_stage_is_one_write_transaction(slack):
    warm(slack)
    counts = one_request(slack, lambda: slack.command("stage OPP-1 solution"))
    assert "moved from *Prospect* to *Solution design*" in slack.last_response()["text"]
    assert_one_write(counts)


def test_opp_won_is_one_write_transaction(slack):
    warm(slack)
    counts = one_request(slack, lambda: slack.command("won OPP-1"))
    assert "marked *Won*" in slack.last_response()["text"]
    assert_one_write(counts)


def test_a_card_stage_click_is_one_write_transaction(slack):
    deal, card = warm(slack)
    stage_id = slack.oppbot.services.workspaces.pipelines("T0TEST").default.stages[2].id
    counts = one_request(slack, lambda: slack.click(STAGE_SELECT, selected=f"{deal.id}:{stage_id}", channel=card.channel_id,
                                                    message_ts=card.ts))
    assert "to *Technical evaluation*" in slack.last_response()["text"]
    assert_one_write(counts)


def test_a_new_opportunity_submission_is_one_write_transaction(slack):
    warm(slack)
    slack.command("new Second deal")
    view = slack.last_view()
    counts = one_request(slack, lambda: slack.submit(view, {"name": "Second deal", "customer": "Acme Corp"}))
    assert [o.name for o in rows(slack.oppbot.engine, Opportunity)] == ["Acme rollout", "Second deal"]
    assert_one_write(counts)


@pytest.mark.parametrize("user", ["U0REP1", "U0MGR"])
def test_the_app_home_is_two_reads(slack, user):
    warm(slack)
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1700000000.000001"}
    slack.event(event)  # the first App Home computes the statistics the next ones reuse
    counts = one_request(slack, lambda: slack.event(event))
    assert slack.fake.home_view(user) is not None
    assert (counts.begun, counts.writes) == (2, 0), counts


def test_the_map_names_every_feature_in_its_three_places():
    """ARCHITECTURE.md: each feature's listener module, service package and queries, and they exist."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for feature in FEATURES:
        assert (ROOT / "bot" / feature / "service.py").exists(), feature
        assert f"bot/{feature}/" in text, feature
        listeners = re.search(rf"`handlers/(\w+)\.py`[^\n]*`bot/{feature}/`", text)
        assert listeners and (ROOT / "handlers" / f"{listeners.group(1)}.py").exists(), feature
    for module in re.findall(r"`(storage/\w+(?:/)?(?:\.py)?)`", text):
        assert (ROOT / module).exists(), module


def test_every_subcommand_has_a_listener_and_a_help_line():
    from handlers.commands import LISTENERS

    for name, entry in REGISTRY.items():
        assert entry.in_ack or name in LISTENERS, name
        assert entry.usage.startswith(f"/opp {name}") and entry.help, name


def test_a_click_without_a_user_is_logged_once_and_changes_nothing(slack, caplog):
    """Typed requests: a payload that names no team or user is no request oppbot can answer."""
    warm(slack)
    calls = len(slack.fake.calls())
    with caplog.at_level("WARNING", logger="handlers"):
        reply = slack.interact({"type": "block_actions", "api_app_id": "A0OPPBOT", "team": {"id": "T0TEST"},
                                "actions": [{"action_id": "card_won", "block_id": "b", "type": "button", "value": "1"}]})
    assert reply.status == 400, "the gate answers it before any listener"
    assert len(slack.fake.calls()) == calls
    assert rows(slack.oppbot.engine, Opportunity)[0].status == "open"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("handlers")] == ["a block_actions request without a team or a user: answered 400"]
