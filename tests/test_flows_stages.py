"""End-to-end flows for moving opportunities: the card's stage select and buttons, `/opp stage`,
`/opp won`, `/opp lost`, reopening, history, and keeping posted cards up to date."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session

from bot.domain.values import OpportunityDraft
from storage.db import UnitOfWork
from storage.models import Opportunity, PostedCard, StageChange
from tests.conftest import START
from tests.driver import TEAM
from tests.support import opp, rows, stage_ids, text_of

STAGES = ["Prospect", "Solution design", "Technical evaluation", "Negotiation"]


# ----- helpers ------------------------------------------------------------------------------------

def changes(slack, opp_id: int) -> list[StageChange]:
    return rows(slack, StageChange, opportunity_id=opp_id)


def new_deal(slack, name: str = "Acme rollout", *, owner: str = "U0REP1", user: str = "U0REP1", channel: str = "C0SALES"):
    """Create through the modal; returns the row and where its card was posted."""
    assert slack.create(name, user=user, channel=channel, owner=owner).status == 200
    row = rows(slack, Opportunity, name=name)[-1]
    [card] = rows(slack, PostedCard, opportunity_id=row.id)
    return row, card


def select_stage(slack, deal: Opportunity, card: PostedCard, stage: str, *, user: str = "U0REP1", **kwargs):
    value = f"{deal.id}:{stage_ids(slack)[stage]}"
    return slack.click("card_stage_select", selected=value, user=user, channel=card.channel_id, message_ts=card.ts, **kwargs)


def updates(slack) -> list:
    return slack.fake.calls("chat.update")


def action_ids(blocks: list[dict]) -> list[str]:
    actions = [b for b in blocks if b["type"] == "actions"]
    assert actions, "the card has no controls"
    return [e["action_id"] for e in actions[-1]["elements"]]


def outcome_buttons_gone(blocks: list[dict]) -> bool:
    """A closed card: the stage select (to reopen) and Details, but no Won / Lost."""
    ids = action_ids(blocks)
    return "card_won" not in ids and "card_lost" not in ids and {"card_stage_select", "card_details"} <= set(ids)


def stage_field(blocks: list[dict]) -> str:
    fields = next(b for b in blocks if b["type"] == "section" and "fields" in b)["fields"]
    return next(f["text"] for f in fields if f["text"].startswith(("*Stage*", "*Status*")))


def last_text(slack) -> str:
    response = slack.last_response()
    assert response.get("response_type") == "ephemeral" and response.get("replace_original") is False, response
    return response["text"]


# ----- the card's stage select ------------------------------------------------------------------

def test_stage_select_records_the_change_updates_the_card_and_tells_the_clicker(slack, clock):
    deal, card = new_deal(slack)
    ids = stage_ids(slack)
    clock.advance(hours=3)

    assert select_stage(slack, deal, card, "Solution design").status == 200

    [created, moved] = changes(slack, deal.id)
    assert created.to_stage_id == ids["Prospect"]
    assert (moved.from_stage_id, moved.from_status, moved.to_stage_id, moved.to_status) == (ids["Prospect"], "open", ids["Solution design"], "open")
    assert (moved.changed_by, moved.owner_id, moved.changed_at) == ("U0REP1", "U0REP1", START + timedelta(hours=3))
    after = opp(slack)
    assert after.stage_id == ids["Solution design"] and after.stage_entered_at == START + timedelta(hours=3)
    assert after.updated_at == START + timedelta(hours=3)

    [update] = updates(slack)
    assert (update.params["channel"], update.params["ts"]) == (card.channel_id, card.ts) and update.response["ok"]
    blocks = update.params["blocks"]
    assert stage_field(blocks) == "*Stage*\nSolution design · 0 days in stage"
    select_el = next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "card_stage_select")
    assert select_el["initial_option"]["text"]["text"] == "2. Solution design"
    assert "*[Solution design]*" in text_of(blocks)
    assert slack.fake.message(card.channel_id, card.ts)["blocks"] == blocks
    assert "OPP-1" in update.params["text"] and "Solution design" in update.params["text"]

    assert "moved from *Prospect* to *Solution design*" in last_text(slack)


STAGE_QUERIES = [
    ("tech", "Technical evaluation"),          # a prefix
    ("3", "Technical evaluation"),             # its number
    ("NEGOTIATION", "Negotiation"),            # any case
    ("solution DESIGN", "Solution design"),    # several words
]


def test_opp_stage_by_prefix_number_or_any_case(slack, clock, subtests):
    ids = stage_ids(slack)
    for number, (query, expected) in enumerate(STAGE_QUERIES, start=1):
        with subtests.test(query):
            deal, card = new_deal(slack, f"Deal {number}")
            assert deal.number == number
            at = clock.advance(days=1)
            assert slack.command(f"stage OPP-{number} {query}").status == 200
            assert opp(slack, number).stage_id == ids[expected]
            moved = changes(slack, deal.id)[-1]
            assert (moved.from_stage_id, moved.to_stage_id, moved.changed_at) == (ids["Prospect"], ids[expected], at)
            assert f"OPP-{number} moved from *Prospect* to *{expected}*" in last_text(slack)
            [update] = [u for u in updates(slack) if u.params["ts"] == card.ts]
            assert expected in stage_field(update.params["blocks"])


def test_unknown_stage_lists_the_valid_ones_and_changes_nothing(slack, subtests):
    deal, _ = new_deal(slack)
    for query in ("frobnicate", "9", "0", "prospectus"):
        with subtests.test(query):
            assert slack.command(f"stage OPP-1 {query}").status == 200
            text = last_text(slack)
            assert text.startswith(":warning:") and (f"“{query}”" in text or f"no stage {query}." in text), text
            assert "1. Prospect, 2. Solution design, 3. Technical evaluation, 4. Negotiation" in text
    assert opp(slack).stage_id == stage_ids(slack)["Prospect"]
    assert len(changes(slack, deal.id)) == 1
    assert updates(slack) == []


def test_shortest_unique_prefix_moves_and_nonsense_does_not(slack):
    deal, _ = new_deal(slack)
    slack.command("stage OPP-1 n")
    assert opp(slack).stage_id == stage_ids(slack)["Negotiation"]
    slack.command("stage OPP-1 xyz")
    assert "Unknown stage" in last_text(slack)
    assert len(changes(slack, deal.id)) == 2


def test_moving_to_the_current_stage_is_a_no_op(slack, clock):
    deal, card = new_deal(slack)
    clock.advance(days=2)
    slack.command("stage OPP-1 prospect")
    assert "already in Prospect" in last_text(slack)
    select_stage(slack, deal, card, "Prospect")
    assert "already in Prospect" in last_text(slack)
    assert len(changes(slack, deal.id)) == 1
    after = opp(slack)
    assert after.stage_entered_at == START and after.updated_at == START
    assert updates(slack) == []


# ----- who may move a deal ----------------------------------------------------------------------

def test_others_cant_move_a_reps_deal(slack, subtests):
    deal, card = new_deal(slack)
    for user in ("U0OTHER", "U0REP2"):  # a rep in no team; a rep of the same team who is not its manager
        with subtests.test(user):
            select_stage(slack, deal, card, "Negotiation", user=user)
            assert "can't change OPP-1" in last_text(slack)
            slack.command("stage OPP-1 nego", user=user)
            assert "OPP-1" in last_text(slack) and "<@U0REP1>" in last_text(slack)
            slack.click("card_won", value=str(deal.id), user=user, channel=card.channel_id, message_ts=card.ts)
            assert "can't change OPP-1" in last_text(slack)
            opened = len(slack.fake.calls("views.open"))
            slack.click("card_lost", value=str(deal.id), user=user, channel=card.channel_id, message_ts=card.ts)
            assert "<@U0REP1>" in last_text(slack)
            assert len(slack.fake.calls("views.open")) == opened  # no lost-reason modal
            slack.command("won OPP-1", user=user)
            assert "<@U0REP1>" in last_text(slack)
            slack.command("lost OPP-1 because I say so", user=user)
            assert "<@U0REP1>" in last_text(slack)

            after = opp(slack)
            assert (after.stage_id, after.status, after.lost_reason) == (stage_ids(slack)["Prospect"], "open", None)
            assert len(changes(slack, deal.id)) == 1
            assert updates(slack) == []


def test_manager_and_admins_can_move_a_reps_deal(slack, clock, subtests):
    # U0MGR manages the owner's team; U0ADMIN is an admin by configuration; U0SLACKADMIN is a Slack workspace admin
    for number, user in enumerate(("U0MGR", "U0ADMIN", "U0SLACKADMIN"), start=1):
        with subtests.test(user):
            deal, card = new_deal(slack, f"Deal {number}")
            clock.advance(hours=1)
            select_stage(slack, deal, card, "Negotiation", user=user)
            assert f"OPP-{number} moved from *Prospect* to *Negotiation*" in last_text(slack)
            moved = changes(slack, deal.id)[-1]
            assert (moved.to_stage_id, moved.changed_by, moved.owner_id) == (stage_ids(slack)["Negotiation"], user, "U0REP1")
            assert opp(slack, number).stage_id == stage_ids(slack)["Negotiation"]
            assert [u.params["ts"] for u in updates(slack)][-1] == card.ts
    assert len(updates(slack)) == 3


def test_a_rep_can_move_their_own_deal_created_by_someone_else(slack):
    deal, card = new_deal(slack, owner="U0REP2", user="U0REP1")
    select_stage(slack, deal, card, "Solution design", user="U0REP2")
    assert opp(slack).stage_id == stage_ids(slack)["Solution design"]
    # the creator is no longer the owner: they may look but not move it
    select_stage(slack, deal, card, "Negotiation", user="U0REP1")
    assert "can't change OPP-1" in last_text(slack)
    assert opp(slack).stage_id == stage_ids(slack)["Solution design"]


# ----- won and lost -----------------------------------------------------------------------------

def test_won_button_closes_the_deal_and_removes_the_outcome_buttons(slack, clock):
    deal, card = new_deal(slack)
    clock.advance(days=4)
    slack.click("card_won", value=str(deal.id), channel=card.channel_id, message_ts=card.ts)

    after = opp(slack)
    assert after.status == "won" and after.closed_at == START + timedelta(days=4) and after.lost_reason is None
    won = changes(slack, deal.id)[-1]
    assert (won.from_status, won.to_status, won.to_stage_id, won.changed_at) == ("open", "won", stage_ids(slack)["Prospect"], START + timedelta(days=4))
    assert "marked *Won*" in last_text(slack)

    [update] = updates(slack)
    blocks = update.params["blocks"]
    assert update.params["ts"] == card.ts
    assert outcome_buttons_gone(blocks)
    assert stage_field(blocks).startswith("*Status*\nWon")
    assert "*[" not in text_of(blocks)  # the stage path is the open stages only: Won is the Status, not a step
    assert slack.fake.message(card.channel_id, card.ts)["blocks"] == blocks

    # clicking Won again changes nothing
    slack.click("card_won", value=str(deal.id), channel=card.channel_id, message_ts=card.ts)
    assert "already" in last_text(slack)
    assert len(changes(slack, deal.id)) == 2 and len(updates(slack)) == 1


def test_lost_button_asks_for_a_reason_and_records_it(slack, clock):
    deal, card = new_deal(slack)
    slack.click("card_lost", value=str(deal.id), channel=card.channel_id, message_ts=card.ts)
    opened = slack.fake.calls("views.open")[-1]
    assert opened.response["ok"] and opened.params["trigger_id"].startswith("trigger-act-")
    view = opened.params["view"]
    assert view["callback_id"] == "lost_reason" and "OPP-1" in text_of(view["blocks"])
    assert opp(slack).status == "open"  # opening the form changes nothing

    reply = slack.submit(view, {"reason": "   "})
    assert reply.status == 200
    assert reply.json["response_action"] == "errors" and list(reply.json["errors"]) == ["reason"]
    assert opp(slack).status == "open" and len(changes(slack, deal.id)) == 1

    clock.advance(days=1)
    reply = slack.submit(view, {"reason": "Went with a competitor"})
    assert reply.status == 200 and reply.body == ""
    after = opp(slack)
    assert (after.status, after.lost_reason, after.closed_at) == ("lost", "Went with a competitor", START + timedelta(days=1))
    lost = changes(slack, deal.id)[-1]
    assert (lost.from_status, lost.to_status, lost.changed_by) == ("open", "lost", "U0REP1")
    [update] = updates(slack)
    assert update.params["ts"] == card.ts
    assert "Lost because:* Went with a competitor" in text_of(update.params["blocks"])
    assert outcome_buttons_gone(update.params["blocks"])


def test_opp_won_and_opp_lost_commands(slack, clock):
    new_deal(slack, "One")
    new_deal(slack, "Two")
    clock.advance(days=2)
    slack.command("won OPP-1")
    assert "OPP-1 marked *Won*" in last_text(slack)
    slack.command("lost OPP-2 price too high")
    assert "OPP-2 marked *Lost*" in last_text(slack)

    one, two = opp(slack, 1), opp(slack, 2)
    assert (one.status, one.closed_at) == ("won", START + timedelta(days=2))
    assert (two.status, two.lost_reason, two.closed_at) == ("lost", "price too high", START + timedelta(days=2))
    assert [c.to_status for c in changes(slack, one.id)] == ["open", "won"]
    assert [c.to_status for c in changes(slack, two.id)] == ["open", "lost"]
    assert len(updates(slack)) == 2


# ----- reopening --------------------------------------------------------------------------------

def test_only_a_manager_can_reopen_a_won_deal(slack, clock):
    deal, card = new_deal(slack)
    slack.command("stage OPP-1 nego")
    clock.advance(days=1)
    slack.command("won OPP-1")
    assert opp(slack).status == "won"
    updates_before = len(updates(slack))

    select_stage(slack, deal, card, "Technical evaluation", user="U0REP1")
    assert "already won" in last_text(slack) and "manager" in last_text(slack)
    slack.command("stage OPP-1 tech")
    assert opp(slack).status == "won" and len(changes(slack, deal.id)) == 3
    assert len(updates(slack)) == updates_before

    clock.advance(days=1)
    select_stage(slack, deal, card, "Technical evaluation", user="U0MGR")
    assert "reopened in *Technical evaluation*" in last_text(slack)
    after = opp(slack)
    assert (after.status, after.stage_id, after.closed_at) == ("open", stage_ids(slack)["Technical evaluation"], None)
    assert after.stage_entered_at == START + timedelta(days=2)
    reopened = changes(slack, deal.id)[-1]
    assert (reopened.from_status, reopened.from_stage_id) == ("won", stage_ids(slack)["Negotiation"])
    assert (reopened.to_status, reopened.to_stage_id, reopened.changed_by) == ("open", stage_ids(slack)["Technical evaluation"], "U0MGR")
    blocks = updates(slack)[-1].params["blocks"]
    assert action_ids(blocks) == ["card_stage_select", "card_won", "card_lost", "card_more"]  # Details is in the More menu of an open card
    assert stage_field(blocks) == "*Stage*\nTechnical evaluation · 0 days in stage"


def test_reopening_in_the_stage_it_was_won_in_is_a_real_change(slack):
    deal, card = new_deal(slack)
    slack.command("won OPP-1")
    select_stage(slack, deal, card, "Prospect", user="U0ADMIN")
    after = opp(slack)
    assert after.status == "open" and after.stage_id == stage_ids(slack)["Prospect"]
    assert [(c.from_status, c.to_status) for c in changes(slack, deal.id)] == [(None, "open"), ("open", "won"), ("won", "open")]


def test_reopening_a_lost_deal_clears_the_reason(slack):
    deal, card = new_deal(slack)
    slack.command("lost OPP-1 no budget")
    select_stage(slack, deal, card, "Prospect")  # the owner may not reopen it
    assert "already lost" in last_text(slack)
    assert opp(slack).status == "lost"
    slack.command("stage OPP-1 solution", user="U0MGR")
    after = opp(slack)
    assert (after.status, after.lost_reason, after.closed_at) == ("open", None, None)
    assert after.stage_id == stage_ids(slack)["Solution design"]
    assert "Lost because" not in text_of(updates(slack)[-1].params["blocks"])


# ----- a deal's whole journey -------------------------------------------------------------------

def test_full_journey_keeps_every_step_in_the_history(slack, clock):
    deal, card = new_deal(slack)
    ids = stage_ids(slack)
    steps = [("Solution design", 1), ("Technical evaluation", 2), ("Negotiation", 3)]
    at = START
    for stage, days in steps:
        at = clock.advance(days=days)
        select_stage(slack, deal, card, stage)
        row = opp(slack)
        assert row.stage_id == ids[stage] and row.stage_entered_at == at
    at_won = clock.advance(days=4)
    slack.click("card_won", value=str(deal.id), channel=card.channel_id, message_ts=card.ts)

    history = changes(slack, deal.id)
    assert [(c.from_stage_id, c.from_status, c.to_stage_id, c.to_status) for c in history] == [
        (None, None, ids["Prospect"], "open"),
        (ids["Prospect"], "open", ids["Solution design"], "open"),
        (ids["Solution design"], "open", ids["Technical evaluation"], "open"),
        (ids["Technical evaluation"], "open", ids["Negotiation"], "open"),
        (ids["Negotiation"], "open", ids["Negotiation"], "won"),
    ]
    assert [c.changed_at for c in history] == [START, START + timedelta(days=1), START + timedelta(days=3), START + timedelta(days=6), at_won]
    final = opp(slack)
    assert final.status == "won" and final.closed_at == at_won and final.created_at == START
    assert len(updates(slack)) == 4 and {u.params["ts"] for u in updates(slack)} == {card.ts}

    slack.command("show OPP-1")
    shown = slack.last_response()
    assert shown["response_type"] == "ephemeral"
    text = text_of(shown["blocks"])
    lines = ["created in Prospect", "Prospect → Solution design", "Solution design → Technical evaluation",
             "Technical evaluation → Negotiation", "marked Won"]
    positions = [text.find(line) for line in lines]
    assert all(p >= 0 for p in positions), (lines, text)
    assert positions == sorted(positions)
    for moment in (START, START + timedelta(days=1), START + timedelta(days=3), START + timedelta(days=6), at_won):
        assert f"<!date^{int(moment.timestamp())}^" in text


def test_a_long_history_says_when_older_changes_are_left_out(slack, clock):
    pipeline = slack.oppbot.services
    actor = pipeline.workspaces.context(TEAM, "U0REP1")
    ids = list(stage_ids(slack).values())
    deal = pipeline.deals.create(actor, OpportunityDraft(name="Busy deal", customer="Acme Corp", owner_id="U0REP1",
                                                   stage_id=ids[0], currency="USD"), channel_id=None)[0]
    with Session(slack.oppbot.engine) as session:  # 200 moves back and forth, written in one go
        for i in range(200):
            session.add(StageChange(team_id=TEAM, opportunity_id=deal.id, from_stage_id=ids[i % len(ids)], from_status="open",
                                    to_stage_id=ids[(i + 1) % len(ids)], to_status="open", changed_by="U0REP1",
                                    owner_id="U0REP1", changed_at=clock.advance(minutes=5)))
        session.commit()
    assert len(changes(slack, deal.id)) == 201

    slack.click("card_details", value=str(deal.id))
    details = text_of(slack.last_view()["blocks"])
    slack.command("show OPP-1")
    shown = text_of(slack.last_response()["blocks"])
    for text in (details, shown):
        assert f"<!date^{int(clock.now().timestamp())}^" in text  # the newest change is there
        assert "created in Prospect" in text or "older changes omitted" in text


def test_days_in_stage_follow_the_clock(slack, clock):
    deal, card = new_deal(slack)
    clock.advance(days=5)
    slack.command("show OPP-1")
    assert "*Stage*\nProspect · 5 days in stage" in text_of(slack.last_response()["blocks"])

    slack.click("card_details", value=str(deal.id), channel=card.channel_id, message_ts=card.ts)
    assert "Prospect · 5 days in stage" in text_of(slack.last_view()["blocks"])

    select_stage(slack, deal, card, "Solution design")
    assert stage_field(updates(slack)[-1].params["blocks"]) == "*Stage*\nSolution design · 0 days in stage"
    clock.advance(days=2, hours=23)
    slack.command("show OPP-1")
    assert "*Stage*\nSolution design · 2 days in stage" in text_of(slack.last_response()["blocks"])


# ----- keeping posted cards up to date ----------------------------------------------------------

def test_deleted_card_message_is_forgotten_and_the_change_kept(slack):
    deal, card = new_deal(slack)
    slack.fake.fail_next("chat.update", "message_not_found")
    select_stage(slack, deal, card, "Solution design")
    assert opp(slack).stage_id == stage_ids(slack)["Solution design"]
    assert len(changes(slack, deal.id)) == 2
    assert rows(slack, PostedCard) == []
    assert "moved from *Prospect* to *Solution design*" in last_text(slack)

    # the next change no longer tries the deleted message
    slack.command("stage OPP-1 tech")
    assert opp(slack).stage_id == stage_ids(slack)["Technical evaluation"]
    assert len(updates(slack)) == 1


def test_other_update_failures_keep_the_card(slack):
    deal, card = new_deal(slack)
    slack.fake.fail_next("chat.update", "invalid_blocks")
    select_stage(slack, deal, card, "Solution design")
    assert opp(slack).stage_id == stage_ids(slack)["Solution design"]
    assert len(rows(slack, PostedCard)) == 1
    slack.command("stage OPP-1 tech")
    assert updates(slack)[-1].response["ok"] and updates(slack)[-1].params["ts"] == card.ts


def test_every_posted_copy_is_updated(slack):
    slack.fake.bot_not_in_channel("C0PRIVATE")
    deal, dm_card = new_deal(slack, channel="C0PRIVATE")
    # the same opportunity's card was also posted elsewhere: simulate a second copy via the Pipeline
    pipeline = slack.oppbot.services
    view = pipeline.deals.find(pipeline.workspaces.context(TEAM, "U0REP1"), number=1)
    channel, ts = pipeline.slack.post("C0SALES", "card", None)
    with UnitOfWork(slack.oppbot.engine, write=True) as uow:
        uow.deals.remember_card(TEAM, view.id, channel, ts, slack.clock.now())
        uow.commit()
    assert len(rows(slack, PostedCard)) == 2

    slack.command("stage OPP-1 nego")
    targets = {(u.params["channel"], u.params["ts"]) for u in updates(slack)}
    assert targets == {(c.channel_id, c.ts) for c in rows(slack, PostedCard)}
    assert (dm_card.channel_id, dm_card.ts) in targets and len(targets) == 2


def test_ephemeral_card_is_replaced_through_the_response_url(slack):
    deal, card = new_deal(slack)
    slack.command("show OPP-1")
    shown = slack.last_response()
    assert shown["response_type"] == "ephemeral"
    select_value = next(o["value"] for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]
                        if e["action_id"] == "card_stage_select" for o in e["options"] if o["text"]["text"] == "3. Technical evaluation")

    before = len(slack.responses())
    slack.click("card_stage_select", selected=select_value, ephemeral=True, channel="C0SALES", message_ts="1700000000.999999")
    sent = slack.responses()[before:]
    replaced = [r for r in sent if r.get("replace_original") is True]
    assert len(replaced) == 1
    assert replaced[0]["_name"] == sent[-1]["_name"]  # both went to this click's response_url
    assert stage_field(replaced[0]["blocks"]) == "*Stage*\nTechnical evaluation · 0 days in stage"
    told = [r for r in sent if r.get("replace_original") is False]
    assert len(told) == 1 and "to *Technical evaluation*" in told[0]["text"]
    assert opp(slack).stage_id == stage_ids(slack)["Technical evaluation"]
    # the ephemeral message can't be chat.update'd; the real card in the channel is
    assert [(u.params["channel"], u.params["ts"]) for u in updates(slack)] == [(card.channel_id, card.ts)]


def test_lost_from_an_ephemeral_card_replaces_it_after_the_reason(slack):
    deal, card = new_deal(slack)
    slack.command("show OPP-1")
    slack.click("card_lost", value=str(deal.id), ephemeral=True, channel="C0SALES", message_ts="1700000000.999999")
    click_url = json.loads(slack.last_view()["private_metadata"])["response_url"]
    assert click_url and click_url.startswith(slack.fake.base_url)
    before = len(slack.responses())
    slack.submit(slack.last_view(), {"reason": "No budget"})
    assert opp(slack).status == "lost" and opp(slack).lost_reason == "No budget"
    [replaced] = slack.responses()[before:]
    assert replaced["replace_original"] is True and replaced["_name"] == click_url.rsplit("/", 1)[1]
    assert "Lost because:* No budget" in text_of(replaced["blocks"])


def test_stage_select_with_a_forged_value_is_refused(slack):
    deal, card = new_deal(slack)
    for value in ("garbage", f"{deal.id}:999999", f"999999:{stage_ids(slack)['Negotiation']}", f"{deal.id}:"):
        slack.click("card_stage_select", selected=value, channel=card.channel_id, message_ts=card.ts)
        assert last_text(slack).startswith(":warning:"), value
    assert len(changes(slack, deal.id)) == 1 and updates(slack) == []
