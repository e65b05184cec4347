"""Every card the bot posts on its own goes through the outbox: a burst into one channel is paced to
Slack's limit and nothing is lost or posted twice; a refresh that fails is retried with the newest content."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from storage.models import Delivery, Opportunity, PostedCard
from tests.conftest import START
from tests.support import rows

CARDS = 60
SPREAD = timedelta(seconds=20)


def card_posts(fake, channel: str) -> list:
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == channel and c.status == 200 and c.response.get("ok")]


def test_sixty_creations_in_twenty_seconds_into_one_channel_post_sixty_cards_once_each(slack):
    """Slack takes about a message a second per channel (the fake enforces it, with a burst of 3): the
    cards queue in the outbox and go out paced, each once, in the channel; each submitter is told where."""
    slack.fake.limit_posts_per_channel(rate=1.0, burst=3, now=lambda: slack.clock.now().timestamp())
    submitters = ("U0REP1", "U0REP2")
    for i in range(CARDS):
        slack.clock.set(START + SPREAD * i / CARDS)
        assert slack.create(f"Deal {i + 1}", user=submitters[i % 2]).status == 200  # the delivery lane runs after each
    # the queue drains at a card a second once the burst is over
    for second in range(2 * CARDS):
        if not [d for d in rows(slack.oppbot.engine, Delivery) if d.status == "pending" and d.kind.startswith("card")]:
            break
        slack.clock.set(START + SPREAD + timedelta(seconds=second + 1))
        slack.deliver()

    deals = rows(slack.oppbot.engine, Opportunity)
    cards = rows(slack.oppbot.engine, PostedCard)
    assert len(deals) == CARDS and len(cards) == CARDS
    assert {c.channel_id for c in cards} == {"C0SALES"}  # none fell back to a DM
    posted = card_posts(slack.fake, "C0SALES")
    refs = Counter(p.params["text"].split(" ", 1)[0] for p in posted)
    assert refs == Counter({f"OPP-{n}": 1 for n in range(1, CARDS + 1)})  # 60 cards, each once
    assert sorted(c.ts for c in cards) == sorted(p.response["ts"] for p in posted)
    # paced to the channel's rate: the fake, which answers 429 past 3 at once and a post a second, never had to
    assert slack.fake.rate_limited("chat.postMessage") == []
    notes = [c for c in slack.fake.calls("chat.postEphemeral") if "is created in <#C0SALES>" in c.params["text"]]
    assert Counter(n.params["text"].split(" ", 1)[0] for n in notes) == refs
    assert {n.params["user"] for n in notes} == set(submitters)
    assert all(d.status in ("sent", "cancelled") for d in rows(slack.oppbot.engine, Delivery) if d.kind.startswith("card"))


def test_a_card_refresh_that_hits_a_500_is_retried_and_shows_the_latest_stage(slack):
    assert slack.create("Acme rollout").status == 200
    [card] = rows(slack.oppbot.engine, PostedCard)
    slack.fake.server_error_next("chat.update", status=500)
    slack.command("stage OPP-1 solution")
    assert [u.status for u in slack.fake.calls("chat.update")] == [500]
    slack.command("stage OPP-1 nego")  # the failed refresh is still waiting: no second one is queued
    refreshes = [d for d in rows(slack.oppbot.engine, Delivery) if d.kind == "card_refresh"]
    assert len(refreshes) == 1 and refreshes[0].status == "pending" and refreshes[0].attempts == 1
    slack.clock.advance(seconds=30)  # the first backoff
    slack.deliver()
    updates = slack.fake.calls("chat.update")
    assert [u.status for u in updates] == [500, 200]
    assert (updates[1].params["channel"], updates[1].params["ts"]) == (card.channel_id, card.ts)
    text = str(updates[1].params["blocks"])
    assert "*Stage*\\nNegotiation" in text and "*[Negotiation]*" in text
    assert slack.fake.message(card.channel_id, card.ts)["text"].endswith("· Negotiation")
